import { env } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { destinationStore } from "../../src/destinations/records";
import { auditHooks } from "../helpers/audit";
import { adminJson, createConnectedDestination, resetOutreach } from "../helpers/control";
import { activity, ingestOk, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";

/**
 * A paused destination sends nothing (issue 21), whatever the consumer's copy of its record says: that copy is
 * KV's, cached for seconds per isolate, so an isolate that read it before the pause still sees it enabled.
 * The ledger tells the destination's gate of the pause at once, and the gate admits none of its calls.
 */

auditHooks();

const profile = (id: number, first: string) => ({ person: { name: { firstName: first } }, identityMap: { Oid: [{ id: String(id) }] } });

describe("a paused destination", () => {
	it("sends no PATCH when the consumer's view of it is older than the pause: the gate holds its calls, and they land on resume", { timeout: 90_000 }, async () => {
		await resetOutreach({});
		const d = await createConnectedDestination({ name: "Paused, seen as enabled" });
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		await ingestOk(d.id, d.ingestToken, [profile(6100, "Before")]);
		await settled(d.id);

		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		// This isolate's copy of the record, read before the pause (as another isolate's would be).
		const paused = await destinationStore(env).getFresh(d.id);
		expect(paused?.enabled).toBe(false);
		destinationStore(env).noteDestination({ ...paused!, enabled: true });
		const patchesBefore = (await outreachRequests()).filter((r) => r.method === "PATCH").length;

		await ingestOk(d.id, d.ingestToken, [profile(6100, "While paused")]);
		await vi.waitUntil(async () => (await activity(d.id)).totals.held === 1, { timeout: 30_000, interval: 200 });
		expect((await outreachRequests()).filter((r) => r.method === "PATCH").length, "PATCHes while paused").toBe(patchesBefore);
		expect((await prospectAttributes(6100)).firstName).toBe("Before");

		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });
		const a = await settled(d.id, 60_000);
		expect(a.totals).toMatchObject({ received: 2, delivered: 2, held: 0, failed: 0 });
		expect((await prospectAttributes(6100)).firstName).toBe("While paused");
	});
});
