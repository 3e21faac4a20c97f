import { createExecutionContext, createMessageBatch, env, getQueueResult, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { ledgerStub } from "../../src/ledger/ledger";
import { adminJson, createConnectedDestination, resetOutreach } from "../helpers/control";
import { activity, ingestOk, outreachRequests, prospectAttributes, putMapping } from "../helpers/data";
import { auditHooks } from "../helpers/audit";

const SEG = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const profile = (id: number, status: string, t: string) => ({
	segmentMembership: { ups: { [SEG]: { status, lastQualificationTime: t } } },
	identityMap: { Oid: [{ id: String(id) }] },
});

/** The pending updates the ledger holds, as the queue messages that would carry them. */
async function pendingMessages(destinationId: string) {
	const rows = await runInDurableObject(ledgerStub(env, destinationId), (_i, state) =>
		state.storage.sql.exec<{ id: string; source: string }>(`SELECT id, source FROM updates WHERE state = 'pending' ORDER BY id`).toArray(),
	);
	return rows.map((r) => {
		const s = JSON.parse(r.source) as { prospectId: number; observedAt: number; seq: number; segments: Record<string, { status: string; lastQualificationTime: string }> };
		const m = s.segments[SEG]!;
		return {
			destinationId,
			attempt: 0,
			updates: [{ id: r.id, prospectId: s.prospectId, fields: { custom4: { value: m.status, v: [Date.parse(m.lastQualificationTime), s.observedAt, s.seq] } } }],
		};
	});
}

async function deliverDirectly(bodies: unknown[]) {
	const batch = createMessageBatch(
		"prospect-updates",
		bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
	);
	const ctx = createExecutionContext();
	await worker.queue(batch, env, ctx);
	return getQueueResult(batch, ctx);
}


auditHooks();

describe("duplicate and reordered queue deliveries", () => {
	beforeEach(async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
	});

	it("count once, write once, and end with the newest value whatever the order", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: SEG, mappingId: 4 }] });
		// Paused: the real queue holds its copies while this test delivers its own.
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		await ingestOk(d.id, d.ingestToken, profile(7, "realized", "2026-11-20T10:00:00Z"));
		await ingestOk(d.id, d.ingestToken, profile(7, "exited", "2026-11-21T10:00:00Z"));
		const qualified = (m: { updates: { fields: { custom4: { v: number[] } } }[] }) => m.updates[0]!.fields.custom4.v[0]!;
		const [older, newer] = (await pendingMessages(d.id)).sort((a, b) => qualified(a) - qualified(b));
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });

		// Newer first, each twice, in one batch; then the whole batch again, as an at-least-once queue may.
		const first = await deliverDirectly([newer, older, newer, older]);
		expect(first.explicitAcks).toHaveLength(4);
		await deliverDirectly([older, newer]);

		expect((await prospectAttributes(7)).custom4).toBe("exited");
		const patches = (await outreachRequests()).filter((r) => r.method === "PATCH");
		expect(patches).toHaveLength(1);
		const totals = (await activity(d.id)).totals;
		expect(totals).toMatchObject({ received: 2, delivered: 1, superseded: 1, pending: 0, failed: 0 });
	});
});
