import { createExecutionContext, createMessageBatch, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import { beforeEach, describe, expect, it } from "vitest";
import { ledgerStub } from "../../src/ledger/ledger";
import { auditedVersions, auditHooks, noteIngest } from "../helpers/audit";
import { adminJson, createConnectedDestination, resetOutreach } from "../helpers/control";
import { activity, ingest, ingestOk, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";
import { get, signInConsole, text } from "../console/helpers";

/**
 * Which value wins (design: "Which value wins"), through the public routes and the real queue, gate and
 * ledger: versions are kept per destination and field and compared under the field's mapping revision; a
 * missing qualification time takes the update's arrival; two destinations writing one field compare arrival;
 * AEP's retries are recognised as retries and nothing else is. Every test ends with the write audit.
 */

auditHooks();

const S1 = "seg-one-0000-4000-8000-000000000001";
const S2 = "seg-two-0000-4000-8000-000000000002";
const NOV_20 = "2026-11-20T10:00:00Z";
const JUN_1 = "2026-06-01T10:00:00Z";

const member = (prospectId: number, memberships: Record<string, { status: string; lastQualificationTime?: string }>, extra: Record<string, unknown> = {}) => ({
	...extra,
	segmentMembership: { ups: memberships },
	identityMap: { Oid: [{ id: String(prospectId) }] },
});

const withName = (prospectId: number, firstName: string) => ({ person: { name: { firstName } }, identityMap: { Oid: [{ id: String(prospectId) }] } });

beforeEach(async () => {
	await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
});

/** Hands messages to the Worker's queue() handler as one batch, as the queue would. */
async function deliverBatch(bodies: unknown[], tag: string): Promise<void> {
	const batch = createMessageBatch("prospect-updates", bodies.map((body, i) => ({ id: `${tag}-${i}`, timestamp: new Date(), attempts: 1, body })));
	const ctx = createExecutionContext();
	await worker.queue(batch, env, ctx);
	await waitOnExecutionContext(ctx);
}

describe("a segment field's version", () => {
	it("starts over when its Mapping ID moves to another segment: the new segment's older qualification still lands", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: S1, mappingId: 4 }] });
		await ingestOk(d.id, d.ingestToken, member(11, { [S1]: { status: "realized", lastQualificationTime: NOV_20 } }));
		await settled(d.id);
		expect((await prospectAttributes(11)).custom4).toBe("realized");

		const saved = await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: S2, mappingId: 4 }] });
		await ingestOk(d.id, d.ingestToken, member(11, { [S2]: { status: "exited", lastQualificationTime: JUN_1 } }));
		const a = await settled(d.id);
		expect((await prospectAttributes(11)).custom4).toBe("exited");
		expect(a.totals).toMatchObject({ received: 2, delivered: 2, superseded: 0 });
		expect(saved.remapped).toEqual(["custom4"]);
	});

	it("supersedes, without a call, an update made under the mapping a remap replaced", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: S1, mappingId: 4 }] });
		// Paused: the old mapping's update waits while the field moves to another segment.
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		await ingestOk(d.id, d.ingestToken, member(12, { [S1]: { status: "realized", lastQualificationTime: NOV_20 } }));
		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: S2, mappingId: 4 }] });
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });
		const a = await settled(d.id);
		expect(a.totals).toMatchObject({ received: 1, superseded: 1, delivered: 0 });
		expect((await prospectAttributes(12)).custom4).toBeUndefined();
		expect((await outreachRequests()).filter((r) => r.method === "PATCH")).toEqual([]);
	});

	it("tells the user on the mapping page that AEP must re-send the new segment's members", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: S1, mappingId: 4 }] });
		const browser = await signInConsole();
		const res = await get(`/destinations/${d.id}/mapping?saved=1&remapped=custom4`, browser);
		const page = text(await res.text());
		expect(page).toContain("You changed where custom4 comes from.");
		expect(page).toMatch(/re-activate it in AEP/);
	});

	it("lets an exited entry without lastQualificationTime replace a realized one that had it", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: S1, mappingId: 4 }] });
		await ingestOk(d.id, d.ingestToken, member(13, { [S1]: { status: "realized", lastQualificationTime: NOV_20 } }));
		await settled(d.id);
		await ingestOk(d.id, d.ingestToken, member(13, { [S1]: { status: "exited" } }));
		await settled(d.id);
		expect((await prospectAttributes(13)).custom4).toBe("exited");
	});
});

describe("two destinations writing one field", () => {
	it("compare arrival, not each other's segments' qualification times, and are warned about it", async () => {
		const d1 = await createConnectedDestination({ name: "North" });
		const d2 = await createConnectedDestination({ name: "South" });
		await putMapping(d1.id, { identityNamespace: "Oid", segments: [{ segmentId: S1, mappingId: 4 }] });
		const second = await putMapping(d2.id, { identityNamespace: "Oid", segments: [{ segmentId: S2, mappingId: 4 }] });
		// (Earlier tests' destinations map custom4 too: this file's KV lives as long as the file.)
		expect(second.warnings).toContainEqual(expect.objectContaining({ path: "segments.0.mappingId", message: expect.stringContaining("also written by destination 'North'") }));
		const verify = await adminJson<{ warnings: { message: string }[] }>(`/api/destinations/${d1.id}/mapping/verify`, { method: "POST" });
		expect(verify.warnings.map((w) => w.message)).toContainEqual(expect.stringContaining("also written by destination 'South'"));

		await ingestOk(d1.id, d1.ingestToken, member(14, { [S1]: { status: "realized", lastQualificationTime: NOV_20 } }));
		await settled(d1.id);
		await ingestOk(d2.id, d2.ingestToken, member(14, { [S2]: { status: "exited", lastQualificationTime: JUN_1 } }));
		await settled(d2.id);
		expect((await prospectAttributes(14)).custom4).toBe("exited");
		// Within one destination its own versions still rule: North's older qualification does not come back.
		await ingestOk(d1.id, d1.ingestToken, member(14, { [S1]: { status: "realized", lastQualificationTime: "2026-11-10T10:00:00Z" } }));
		const a = await settled(d1.id);
		expect(a.totals.superseded).toBe(1);
		expect((await prospectAttributes(14)).custom4).toBe("exited");
	});
});

describe("AEP's retries", () => {
	it("answer a retry of a request AEP gave up on with the first copy's counts, creating nothing — a late retry never overwrites newer data", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		const old = JSON.stringify(withName(15, "Old"));
		// The ledger is busy for longer than AEP's deadline: the first copy is answered after 2 seconds.
		const ledger = ledgerStub(env, d.id);
		const busy = runInDurableObject(ledger, (_i, state) => state.blockConcurrencyWhile(() => new Promise((r) => setTimeout(r, 2_300))));
		await new Promise((r) => setTimeout(r, 50));
		const started = Date.now();
		const first = await ingestOk(d.id, d.ingestToken, old);
		expect(Date.now() - started).toBeGreaterThan(2_000);
		await busy;
		await settled(d.id);
		await ingestOk(d.id, d.ingestToken, JSON.stringify(withName(15, "New")));
		await settled(d.id);
		// AEP retries the first request, byte for byte.
		const retry = await ingest(d.id, d.ingestToken, old);
		expect(retry.status).toBe(202);
		expect(await retry.json()).toEqual(first);
		const a = await settled(d.id);
		expect(a.totals.received, "the retry created nothing").toBe(2);
		expect((await prospectAttributes(15)).firstName).toBe("New");
	});

	it("take an identical body answered in time as a new delivery: a profile may change back", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		const a = JSON.stringify(withName(16, "Ana"));
		await ingestOk(d.id, d.ingestToken, a);
		await settled(d.id);
		await ingestOk(d.id, d.ingestToken, JSON.stringify(withName(16, "Bea")));
		await settled(d.id);
		await ingestOk(d.id, d.ingestToken, a);
		const totals = (await settled(d.id)).totals;
		expect(totals.received).toBe(3);
		expect((await prospectAttributes(16)).firstName).toBe("Ana");
	});

	it("never report an update delivered whose value was not written: two requests in the same millisecond still have an order", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		// Two single-profile requests for one prospect that arrived in the same millisecond: the same observedAt,
		// both first in their request. Their receipts are in the ledger; each copy reaches the consumer in a batch
		// of its own, as two queue messages may.
		const at = Date.now();
		const rows = [
			{ id: `same-ms-a:0`, value: "Ana" },
			{ id: `same-ms-b:0`, value: "Bea" },
		];
		await runInDurableObject(ledgerStub(env, d.id), (_i, state) => {
			for (const r of rows)
				state.storage.sql.exec(
					`INSERT INTO updates (id, request_id, prospect_id, state, hour, received_at, updated_at, segments, source) VALUES (?, ?, 17, 'pending', 0, ?, ?, '[]', ?)`,
					r.id,
					r.id.split(":")[0],
					at,
					at,
					JSON.stringify({ prospectId: 17, observedAt: at, seq: 0, segments: {}, attributes: { "person.name.firstName": r.value } }),
				);
		});
		noteIngest(d.id, [withName(17, "Ana")], at);
		noteIngest(d.id, [withName(17, "Bea")], at);
		for (const r of rows)
			await deliverBatch([{ destinationId: d.id, attempt: 0, updates: [{ id: r.id, prospectId: 17, fields: { firstName: { value: r.value, v: [0, at, 0] } } }] }], r.id);
		const writes = ((await (await fetch(`${env.OUTREACH_API_BASE}/__fake/writes`)).json()) as { writes: { prospectId: number; value: unknown }[] }).writes;
		const states = await runInDurableObject(ledgerStub(env, d.id), (_i, state) =>
			state.storage.sql.exec<{ source: string; state: string }>(`SELECT source, state FROM updates WHERE prospect_id = 17`).toArray(),
		);
		for (const row of states.filter((r) => r.state === "delivered")) {
			const value = (JSON.parse(row.source) as { attributes: Record<string, string> }).attributes["person.name.firstName"];
			expect(writes.some((w) => w.prospectId === 17 && w.value === value), `${value} was reported delivered but never written`).toBe(true);
		}
		expect(states.map((r) => r.state).sort()).toEqual(expect.arrayContaining(["delivered"]));
		expect(auditedVersions()).toBe(2);
	});
});
