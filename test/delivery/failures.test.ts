import { createExecutionContext, createMessageBatch, env, getQueueResult, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { crashAt } from "../../src/platform/crashpoints";
import worker from "../../src/index";
import { ledgerStub } from "../../src/ledger/ledger";
import { adminJson, createConnectedDestination, resetOutreach } from "../helpers/control";
import { activity, expectCountsAddUp, failures, ingestOk, prospectAttributes, putMapping, settled } from "../helpers/data";
import { auditHooks } from "../helpers/audit";

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


auditHooks();

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

	it("lists a dead-lettered update as failed only while its outcome is unknown, once", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping({ realized: "Active", exited: "Expired" }));
		// The ledger's hand-over to the queue fails once: the update is pending, not in the queue, its copy current.
		crashAt("outbox.send");
		await ingestOk(d.id, d.ingestToken, profile(2));
		const row = await pendingRow(d.id);
		const copy = { v: 2, destinationId: d.id, updates: [{ ...JSON.parse(row.payload), gen: row.gen, attempt: 3 }] };
		const result = await deadLetters([copy, copy]);
		expect(result.ackAll).toBe(true);
		const a = await activity(d.id);
		expect(a.totals).toMatchObject({ received: 1, failed: 1, pending: 0 });
		const [f] = await failures(d.id);
		expect(f!.reason).toMatch(/retries ran out/);
		// The outbox's own retry finds it failed and sends nothing: nothing reaches Outreach.
		await new Promise((r) => setTimeout(r, 2_500));
		expect((await prospectAttributes(2)).custom4).toBeUndefined();
		expect((await activity(d.id)).totals).toMatchObject({ failed: 1, pending: 0 });
	});

	it("never lists as failed a dead-lettered update that Outreach accepted, or one that is held", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping({ realized: "Active", exited: "Expired" }));
		await ingestOk(d.id, d.ingestToken, profile(2));
		await settled(d.id);
		const delivered = await runInDurableObject(ledgerStub(env, d.id), (_i, state) =>
			state.storage.sql.exec<{ id: string; source: string }>(`SELECT id, source FROM updates`).one(),
		);
		// A copy of the delivered update, rebuilt as it travelled (the gate knows Outreach accepted that version).
		const source = JSON.parse(delivered.source) as { observedAt: number; seq: number };
		const lqt = Date.parse("2026-11-20T10:00:00Z");
		const fields = {
			custom4: { value: "Active", v: [0, lqt, source.observedAt, source.seq] },
			custom7: { value: "Expired", v: [0, lqt, source.observedAt, source.seq] },
			firstName: { value: "Ana", v: [0, source.observedAt, source.observedAt, source.seq] },
		};
		await deadLetters([{ v: 2, destinationId: d.id, updates: [{ id: delivered.id, prospectId: 2, fields, gen: 1 }] }]);
		expect((await activity(d.id)).totals).toMatchObject({ received: 1, delivered: 1, failed: 0 });

		// Paused: the update waits in the ledger (held), so a dead-lettered copy of it is not its outcome.
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		await ingestOk(d.id, d.ingestToken, profile(3));
		await vi.waitUntil(async () => (await activity(d.id)).totals.held === 1, { timeout: 10_000 });
		const held = await pendingRow(d.id);
		await deadLetters([{ v: 2, destinationId: d.id, updates: [{ ...JSON.parse(held.payload), gen: held.gen }] }]);
		expect((await activity(d.id)).totals).toMatchObject({ received: 2, delivered: 1, failed: 0, pending: 1, held: 1 });
		expect(await failures(d.id)).toEqual([]);
	});
});

/** Hands messages to the dead-letter queue's consumer, as the queue does after max_retries. */
async function deadLetters(bodies: unknown[]) {
	const batch = createMessageBatch(
		"prospect-updates-dlq",
		bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
	);
	const ctx = createExecutionContext();
	await worker.queue(batch, env, ctx);
	return getQueueResult(batch, ctx);
}

/** The destination's one pending update, as its ledger holds it. */
async function pendingRow(destinationId: string): Promise<{ id: string; payload: string; gen: number }> {
	return runInDurableObject(ledgerStub(env, destinationId), (_i, state) =>
		state.storage.sql.exec<{ id: string; payload: string; gen: number }>(`SELECT id, payload, gen FROM updates WHERE state = 'pending'`).one(),
	);
}

