import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { destinationStore } from "../../src/destinations/records";
import { adminJson, createDestination, getDestination } from "../helpers/control";
import { ingest } from "../helpers/data";

/**
 * One writer for each record (design: "One writer for each record"): a destination's record is changed by its
 * ledger, the authority, never read-modified-written through KV, which can serve a copy up to a minute old. A
 * change made where KV is stale never brings back a rotated ingest token or re-enables a paused destination.
 */

/** Makes this location's KV serve an older copy of the destination's record, as KV may for a minute. */
async function staleKv(id: string, older: Record<string, unknown>): Promise<void> {
	await env.CONFIG.put(`destination:${id}`, JSON.stringify(older));
	destinationStore(env).forget(id);
}

const profile = { person: { name: { firstName: "Ana" } }, identityMap: { Oid: [{ id: "1" }] } };

describe("a destination's record", () => {
	it("keeps a rotated ingest token rotated when a change is made where KV still serves the old record", async () => {
		const created = await createDestination({ name: "Rotated" });
		const before = JSON.parse((await env.CONFIG.get(`destination:${created.id}`))!) as Record<string, unknown>;
		const { ingestToken: rotated } = await adminJson<{ ingestToken: string }>(`/api/destinations/${created.id}/ingest-token`, { method: "POST" });
		await staleKv(created.id, before);

		await adminJson(`/api/destinations/${created.id}`, { method: "PATCH", json: { enabled: false } });
		destinationStore(env).forget(created.id);
		expect((await ingest(created.id, created.ingestToken, profile)).status, "the leaked old token").toBe(401);
		expect((await ingest(created.id, rotated, profile)).status).toBe(202);
	});

	it("never re-enables a paused destination when another field is changed on a stale copy", async () => {
		const created = await createDestination({ name: "Paused" });
		const enabledCopy = JSON.parse((await env.CONFIG.get(`destination:${created.id}`))!) as Record<string, unknown>;
		await adminJson(`/api/destinations/${created.id}`, { method: "PATCH", json: { enabled: false } });
		await staleKv(created.id, enabledCopy);

		const renamed = await adminJson<{ name: string; enabled: boolean }>(`/api/destinations/${created.id}`, { method: "PATCH", json: { name: "Paused, renamed" } });
		expect(renamed).toMatchObject({ name: "Paused, renamed", enabled: false });
		expect(await getDestination(created.id)).toMatchObject({ enabled: false });
		expect(JSON.parse((await env.CONFIG.get(`destination:${created.id}`))!).enabled, "KV, the read cache, follows the authority").toBe(false);
	});
});
