import { createExecutionContext, createMessageBatch, env, getQueueResult, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { ledgerStub } from "../../src/ledger";
import { adminJson, createConnectedDestination, resetOutreach } from "../helpers/control";
import { activity, expectCountsAddUp, failures, ingestOk, prospectAttributes, putMapping, settled } from "../helpers/data";

const SEG = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const SEG7 = "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
const profile = (id: number) => ({
	person: { name: { firstName: "Ana" } },
	segmentMembership: {
		ups: {
			[SEG]: { status: "realized", lastQualificationTime: "2026-11-20T10:00:00Z" },
			[SEG7]: { status: "exited", lastQualificationTime: "2026-11-20T10:00:00Z" },
		},
	},
	identityMap: { Oid: [{ id: String(id) }] },
});
const mapping = (statusValues?: Record<string, string>) => ({
	identityNamespace: "Oid",
	attributes: [{ source: "person.name.firstName", target: "firstName" }],
	segments: [
		{ segmentId: SEG, mappingId: 4 },
		{ segmentId: SEG7, mappingId: 7 },
	],
	...(statusValues ? { statusValues } : {}),
});

describe("failures: listed with a reason, replayable", () => {
	beforeEach(async () => {
		await resetOutreach({
			rateLimit: { limit: 100, windowSeconds: 5 },
			prospects: [1, 2, 3],
			fieldRules: { custom4: { type: "inclusion", definition: ["Active", "Expired"] } },
		});
	});

	it("a status word outside a picklist fails only that field, with the seed's message and the Mapping ID; fixing the words and replaying delivers it", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping());
		await ingestOk(d.id, d.ingestToken, profile(1));
		const a = await settled(d.id);
		expect(a.totals).toMatchObject({ received: 1, failed: 1 });
		// The other fields were still written.
		expect(await prospectAttributes(1)).toMatchObject({ custom7: "exited", firstName: "Ana" });
		expect((await prospectAttributes(1)).custom4).toBeUndefined();
		const [f] = await failures(d.id);
		expect(f).toMatchObject({ prospectId: 1, fields: ["custom4"], status: "failed" });
		expect(f!.reason).toContain("Bad request reported while pushing events to the destination. Please contact the administrator and try again.");
		expect(f!.reason).toContain("Mapping ID 4");

		await putMapping(d.id, mapping({ realized: "Active", exited: "Expired" }));
		expect(await adminJson(`/api/destinations/${d.id}/failures/replay`, { method: "POST", json: { ids: [f!.id] } })).toEqual({ replayed: 1 });
		const after = await settled(d.id);
		expect(await prospectAttributes(1)).toMatchObject({ custom4: "Active" });
		expect(after.totals).toMatchObject({ received: 1, delivered: 1, failed: 0 });
		expect(await failures(d.id)).toEqual([]);
		expectCountsAddUp(after.totals);
	});

	it("a prospect that does not exist is listed as failed with Outreach's reason", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping({ realized: "Active", exited: "Expired" }));
		await ingestOk(d.id, d.ingestToken, [profile(2), profile(99)]);
		const a = await settled(d.id);
		expect(a.totals).toMatchObject({ received: 2, delivered: 1, failed: 1 });
		const [f] = await failures(d.id);
		expect(f).toMatchObject({ prospectId: 99, status: "failed" });
		expect(f!.reason).toMatch(/404.*Could not find 'prospect' with ID '99'/);
		expect((await activity(d.id)).recentErrors.some((e) => e.message.includes("99"))).toBe(true);
	});

	it("a replay never writes an older value over a newer one: it ends superseded", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping());
		await ingestOk(d.id, d.ingestToken, profile(3)); // custom4 "realized" → refused by the picklist
		await settled(d.id);
		const [f] = await failures(d.id);
		await putMapping(d.id, mapping({ realized: "Active", exited: "Expired" }));
		// A newer qualification arrives and lands first.
		const newer = profile(3);
		newer.segmentMembership.ups[SEG]!.lastQualificationTime = "2026-11-21T10:00:00Z";
		newer.segmentMembership.ups[SEG]!.status = "exited";
		await ingestOk(d.id, d.ingestToken, newer);
		await settled(d.id);
		expect((await prospectAttributes(3)).custom4).toBe("Expired");
		await adminJson(`/api/destinations/${d.id}/failures/replay`, { method: "POST", json: {} });
		const a = await settled(d.id);
		expect((await prospectAttributes(3)).custom4).toBe("Expired");
		expect(a.totals).toMatchObject({ received: 2, delivered: 1, superseded: 1, failed: 0 });
		expect((await failures(d.id)).map((x) => x.id)).not.toContain(f!.id);
	});

	it("records every update of a dead-lettered message as failed, once", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping({ realized: "Active", exited: "Expired" }));
		// Paused, so the real queue holds the update while a copy of it is dead-lettered.
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		await ingestOk(d.id, d.ingestToken, profile(2));
		const id = await pendingId(d.id);
		const body = { destinationId: d.id, attempt: 3, updates: [{ id, prospectId: 2, fields: { custom4: { value: "Active", v: [1, 1, 0] } } }] };
		const batch = createMessageBatch("prospect-updates-dlq", [{ id: "m1", timestamp: new Date(), attempts: 1, body }, { id: "m2", timestamp: new Date(), attempts: 1, body }]);
		const ctx = createExecutionContext();
		await worker.queue(batch, env, ctx);
		const result = await getQueueResult(batch, ctx);
		expect(result.ackAll).toBe(true);
		const a = await activity(d.id);
		expect(a.totals).toMatchObject({ received: 1, failed: 1, pending: 0 });
		const [f] = await failures(d.id);
		expect(f!.reason).toMatch(/retries ran out/);
	});
});

/** The id of the destination's one pending update, read from the ledger. */
async function pendingId(destinationId: string): Promise<string> {
	return runInDurableObject(ledgerStub(env, destinationId), (_i, state) => state.storage.sql.exec<{ id: string }>(`SELECT id FROM updates WHERE state = 'pending'`).one().id);
}
