import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/platform/crypto";
import { gateStub } from "../../src/gate/gate";
import { ledgerStub } from "../../src/ledger/ledger";
import { admin, adminJson, connectDestination, createDestination, gateAccessToken, getDestination, repGate, resetOutreach } from "../helpers/control";

beforeEach(async () => {
	await resetOutreach();
});

type Problem = { path: string; message: string };
async function badRequest(res: Response): Promise<Problem[]> {
	const body = (await res.json()) as { error: { code: string; message: string; details?: Problem[] } };
	expect(res.status, JSON.stringify(body)).toBe(400);
	expect(body.error.code).toBe("bad_request");
	return body.error.details ?? [];
}

describe("POST /api/destinations", () => {
	it("creates a destination and shows its ingest token once", async () => {
		const res = await admin("/api/destinations", { method: "POST", json: { name: "  EU prospects ", description: "AEP sandbox prod" } });
		expect(res.status).toBe(201);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const created = (await res.json()) as Record<string, unknown>;
		expect(created).toEqual({
			id: expect.stringMatching(/^[0-9a-f-]{36}$/),
			name: "EU prospects",
			description: "AEP sandbox prod",
			enabled: true,
			bulkApi: false,
			status: "not_connected",
			outreachUser: null,
			ingestUrl: `http://localhost:8787/ingest/${created.id}`,
			createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
			ingestToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), // 32 random bytes = 256 bits
		});
		// Never shown again, stored only as its hash.
		const shown = await getDestination(created.id as string);
		expect(shown).not.toHaveProperty("ingestToken");
		const raw = (await env.CONFIG.get(`destination:${created.id}`))!;
		expect(raw).not.toContain(created.ingestToken as string);
		expect(JSON.parse(raw).ingestTokenHash).toBe(await sha256Hex(created.ingestToken as string));
	});

	it("gives every destination its own id and token", async () => {
		const [a, b] = await Promise.all([createDestination(), createDestination()]);
		expect(a.id).not.toBe(b.id);
		expect(a.ingestToken).not.toBe(b.ingestToken);
	});

	it("lists every problem of an invalid body", async () => {
		const details = await badRequest(await admin("/api/destinations", { method: "POST", json: { name: " ", description: 5, colour: "red" } }));
		expect(details.map((d) => d.path).sort()).toEqual(["colour", "description", "name"]);
	});

	it.each([
		["no body", undefined, undefined],
		["a body that is not JSON", "{name:", "application/json"],
		["a JSON body without a JSON content type", '{"name":"x"}', "text/plain"],
		["a JSON array", "[]", "application/json"],
	])("answers 400 to %s", async (_what, body, contentType) => {
		const res = await admin("/api/destinations", { method: "POST", ...(body === undefined ? {} : { body }), headers: contentType ? { "Content-Type": contentType } : {} });
		expect(res.status).toBe(400);
		expect(await res.json()).toMatchObject({ error: { code: "bad_request", message: expect.any(String) } });
	});
});

describe("GET /api/destinations", () => {
	it("lists destinations, oldest first, without tokens", async () => {
		const a = await createDestination({ name: "first" });
		const b = await createDestination({ name: "second" });
		const { destinations } = await adminJson<{ destinations: { id: string }[] }>("/api/destinations");
		const ids = destinations.map((d) => d.id);
		expect(ids.indexOf(a.id)).toBeLessThan(ids.indexOf(b.id));
		expect(JSON.stringify(destinations)).not.toContain(a.ingestToken);
	});
});

describe("GET|PATCH /api/destinations/:id", () => {
	it("404s an unknown destination, in the envelope", async () => {
		for (const method of ["GET", "PATCH", "DELETE"]) {
			const res = await admin("/api/destinations/no-such-id", { method, ...(method === "PATCH" ? { json: { enabled: false } } : {}) });
			expect(res.status).toBe(404);
			expect(await res.json()).toEqual({ error: { code: "not_found", message: expect.stringContaining("no-such-id") } });
		}
	});

	it("pauses and resumes a destination, and renames it", async () => {
		const { id } = await createDestination({ name: "old" });
		expect(await adminJson(`/api/destinations/${id}`, { method: "PATCH", json: { enabled: false } })).toMatchObject({ enabled: false, name: "old" });
		expect((await getDestination(id)).enabled).toBe(false);
		expect(await adminJson(`/api/destinations/${id}`, { method: "PATCH", json: { enabled: true, name: "new", description: "d" } })).toMatchObject({
			enabled: true,
			name: "new",
			description: "d",
		});
	});

	it("refuses an invalid change, listing every problem", async () => {
		const { id } = await createDestination();
		const details = await badRequest(await admin(`/api/destinations/${id}`, { method: "PATCH", json: { enabled: "no", name: "", ingestTokenHash: "x" } }));
		expect(details.map((d) => d.path).sort()).toEqual(["enabled", "ingestTokenHash", "name"]);
		expect(await badRequest(await admin(`/api/destinations/${id}`, { method: "PATCH", json: {} }))).toEqual([
			{ path: "(body)", message: "send at least one of name, description, enabled, bulkApi" },
		]);
	});
});

describe("POST /api/destinations/:id/ingest-token", () => {
	it("replaces the token: a new one is shown once, and only its hash is stored", async () => {
		const created = await createDestination();
		const res = await admin(`/api/destinations/${created.id}/ingest-token`, { method: "POST" });
		expect(res.status).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const { ingestToken } = (await res.json()) as { ingestToken: string };
		expect(ingestToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(ingestToken).not.toBe(created.ingestToken);
		const record = JSON.parse((await env.CONFIG.get(`destination:${created.id}`))!);
		expect(record.ingestTokenHash).toBe(await sha256Hex(ingestToken));
		expect(JSON.stringify(record)).not.toContain(ingestToken);
	});
});

describe("DELETE /api/destinations/:id", () => {
	it("erases its KV records, its ledger and its grant — and nothing of another destination", async () => {
		const doomed = await createDestination({ name: "doomed" });
		const kept = await createDestination({ name: "kept" });
		await connectDestination(doomed.id);
		await connectDestination(kept.id);
		await adminJson(`/api/destinations/${doomed.id}/mapping`, { method: "PUT", json: { identityNamespace: "Oid" } });
		await env.CONFIG.put(`alerts:${doomed.id}`, JSON.stringify({ webhookUrl: null }));
		// The ledger has something to erase (the OAuth state's single-use claim).
		expect(await runInDurableObject(ledgerStub(env, doomed.id), (_i, state) => state.storage.sql.exec("SELECT COUNT(*) AS n FROM claims").one().n)).toBe(1);

		const res = await admin(`/api/destinations/${doomed.id}`, { method: "DELETE" });
		expect(res.status).toBe(204);

		for (const key of ["destination", "mapping", "connection", "alerts"]) expect(await env.CONFIG.get(`${key}:${doomed.id}`)).toBeNull();
		expect(await runInDurableObject(ledgerStub(env, doomed.id), (_i, state) => state.storage.sql.exec("SELECT COUNT(*) AS n FROM claims").one().n)).toBe(0);
		expect(await gateStub(env, repGate()).connection(doomed.id)).toBeNull();
		expect((await admin(`/api/destinations/${doomed.id}`)).status).toBe(404);

		expect((await getDestination(kept.id)).status).toBe("connected");
		expect((await gateAccessToken(kept.id)).ok).toBe(true);
	});

	it("erases a destination that was never connected", async () => {
		const { id } = await createDestination();
		expect((await admin(`/api/destinations/${id}`, { method: "DELETE" })).status).toBe(204);
		expect((await admin(`/api/destinations/${id}`)).status).toBe(404);
	});
});

describe("DELETE /api/destinations/:id/connection", () => {
	it("is harmless on a destination that is not connected", async () => {
		const { id } = await createDestination();
		expect(await adminJson(`/api/destinations/${id}/connection`, { method: "DELETE" })).toMatchObject({ status: "not_connected" });
	});
});
