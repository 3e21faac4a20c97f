import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { auditStub } from "../../src/audit/audit";
import { sessionsStub } from "../../src/auth/sessions";
import mapping from "../fixtures/mapping.json";
import { admin, adminJson, createDestination } from "../helpers/control";
import { callAs, createKey } from "../helpers/keys";

/**
 * API keys (issue 22): shown once, stored hashed, effective at once when deleted; and the audit log, which lists
 * every change with its actor and never a secret or profile value.
 */

type AuditPage = { entries: { id: number; at: string; actor: string; action: string; destinationId: string | null; summary: string }[]; nextBefore: number | null };

describe("API keys", () => {
	it("are shown once, listed without the key, and a deleted key gets 401 on its very next request", async () => {
		const created = await createKey("activate", "campaign manager");
		expect(created).toEqual({ id: expect.stringMatching(/^[0-9a-f]{16}$/), name: "campaign manager", role: "activate", key: expect.stringMatching(/^aok_[0-9a-f]{16}_[\w-]{43}$/), createdAt: expect.any(String) });
		const listed = (await adminJson<{ keys: Record<string, unknown>[] }>("/api/keys")).keys.find((k) => k.id === created.id);
		expect(listed).toEqual({ id: created.id, name: "campaign manager", role: "activate", createdAt: created.createdAt, lastUsedAt: null });
		expect(JSON.stringify(await adminJson("/api/keys"))).not.toContain(created.key);

		expect((await callAs(created.key, "/api/destinations")).status).toBe(200);
		const used = (await adminJson<{ keys: { id: string; lastUsedAt: string | null }[] }>("/api/keys")).keys.find((k) => k.id === created.id);
		expect(used?.lastUsedAt).toMatch(/^\d{4}-/);

		expect((await admin(`/api/keys/${created.id}`, { method: "DELETE" })).status).toBe(204);
		const after = await callAs(created.key, "/api/destinations");
		expect(after.status).toBe(401);
		expect(((await after.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
		expect((await admin(`/api/keys/${created.id}`, { method: "DELETE" })).status).toBe(404);
	});

	it("are stored only as a hash: the Sessions object holds no key in plaintext", async () => {
		const created = await createKey("view", "hash check");
		await runInDurableObject(sessionsStub(env), (_instance, state) => {
			const rows = state.storage.sql.exec(`SELECT * FROM api_keys`).toArray();
			const dump = JSON.stringify(rows);
			expect(dump).toContain(created.id);
			expect(dump).not.toContain(created.key);
			expect(dump).not.toContain(created.key.split("_")[2]);
		});
	});

	it("refuse a wrong secret for a real key id, and an unknown role at creation", async () => {
		const created = await createKey("manage", "tamper");
		const forged = `${created.key.slice(0, -4)}AAAA`;
		expect((await callAs(forged, "/api/destinations")).status).toBe(401);
		const res = await admin("/api/keys", { method: "POST", json: { name: "x", role: "owner" } });
		expect(res.status).toBe(400);
		expect(JSON.stringify(await res.json())).toMatch(/role.*must be one of view, activate, manage/);
	});
});

describe("the audit log", () => {
	it("lists each change with its actor, newest first, with a before → after summary", async () => {
		const activate = await createKey("activate", "Mapping Editor");
		const d = await createDestination({ name: "Audited" });
		await adminJson(`/api/destinations/${d.id}/mapping`, { method: "PUT", json: mapping });
		const changed = { ...mapping, segments: [{ ...mapping.segments[0]!, mappingId: 9 }, mapping.segments[1]!] };
		const res = await callAs(activate.key, `/api/destinations/${d.id}/mapping`, { method: "PUT", json: changed });
		expect(res.status).toBe(200);
		await callAs(activate.key, `/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		// A refused change is not a change: it leaves no entry.
		expect((await callAs(activate.key, `/api/destinations/${d.id}/ingest-token`, { method: "POST" })).status).toBe(403);

		const page = await adminJson<AuditPage>(`/api/audit?destinationId=${d.id}`);
		expect(page.entries.map((e) => [e.actor, e.action, e.summary])).toEqual([
			[`key Mapping Editor (${activate.id})`, "PATCH /destinations/:id", "destination: enabled true → false"],
			[`key Mapping Editor (${activate.id})`, "PUT /destinations/:id/mapping", `mapping: segment ${mapping.segments[0]!.segmentId} Mapping ID 4 → 9`],
			["owner", "PUT /destinations/:id/mapping", "mapping: created with 2 segment(s) and 2 attribute(s)"],
			["owner", "POST /destinations", "destination 'Audited' created"],
		]);
		expect(page.entries.every((e) => e.destinationId === d.id)).toBe(true);
	});

	it("never holds a secret: not the ingest token, an API key, the admin token or a webhook URL", async () => {
		const d = await createDestination({ name: "Secrets" });
		const rotated = await adminJson<{ ingestToken: string }>(`/api/destinations/${d.id}/ingest-token`, { method: "POST" });
		const key = await createKey("view", "secret check");
		const hook = "https://hooks.slack.com/services/T000/B000/supersecretpath";
		await adminJson(`/api/destinations/${d.id}/alerts`, { method: "PUT", json: { webhookUrl: hook, conditions: { connectionLost: true, failureRatePercent: null, pendingOlderThanMinutes: null } } });
		await runInDurableObject(auditStub(env), (_instance, state) => {
			const dump = JSON.stringify(state.storage.sql.exec(`SELECT * FROM audit`).toArray());
			for (const secret of [d.ingestToken, rotated.ingestToken, key.key, env.ADMIN_TOKEN, "supersecretpath"]) expect(dump).not.toContain(secret);
			expect(dump).toContain("ingest token rotated");
			expect(dump).toContain("alerts: connectionLost false → true; webhook none → set");
		});
	});

	it("pages with limit and before, and validates its query", async () => {
		for (let i = 0; i < 3; i++) await createKey("view", `pager ${i}`);
		const first = await adminJson<AuditPage>("/api/audit?limit=2");
		expect(first.entries).toHaveLength(2);
		expect(first.nextBefore).toBe(first.entries[1]!.id);
		const second = await adminJson<AuditPage>(`/api/audit?limit=2&before=${first.nextBefore}`);
		expect(second.entries[0]!.id).toBeLessThan(first.entries[1]!.id);
		expect((await admin("/api/audit?limit=0")).status).toBe(400);
		expect((await admin("/api/audit?before=soon")).status).toBe(400);
	});

	it("forgets entries older than AUDIT_RETENTION_DAYS (365 by default)", async () => {
		await createKey("view", "old entry");
		await runInDurableObject(auditStub(env), async (instance, state) => {
			const n = state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM audit`).one().n;
			state.storage.sql.exec(`UPDATE audit SET at_ms = at_ms - ? WHERE seq = (SELECT MIN(seq) FROM audit)`, 366 * 86_400_000);
			expect(instance.prune()).toBe(1);
			expect(state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM audit`).one().n).toBe(n - 1);
		});
	});
});
