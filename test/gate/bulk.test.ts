import { env } from "cloudflare:test";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { bulkChunks } from "../../src/gate/bulk";
import { auditHooks } from "../helpers/audit";
import { adminJson, connectDestination, createDestination, outreachFaults, resetOutreach, type CreatedDestination } from "../helpers/control";
import { activity, failures, ingestOk, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";
import { fuzzRuns } from "../suite-size";

/**
 * Segment statuses through Outreach's bulk API (the bulk issue), against the local Outreach's bulk API at its
 * pessimistic defaults unless a test says otherwise: writes grouped by (field, value) across requests and
 * destinations, every bulk call within the same budget, a running batch's fields locked under a lease, failed
 * items listed with Outreach's info, and PATCH whenever bulk is not possible. Every test ends with the write
 * audit, and with no bulk request sent without explicit ids.
 */

auditHooks();

const S1 = "bulk-seg-one-4000-8000-000000000001";
const S2 = "bulk-seg-two-4000-8000-000000000002";
const SEGMENTS = { identityNamespace: "Oid", segments: [{ segmentId: S1, mappingId: 4 }, { segmentId: S2, mappingId: 5 }] };

type Stats = { bulk: { requests: number; items: number; unfilteredRequests: number; quota429: number }; status429: number };
const stats = async () => (await (await fetch(`${env.OUTREACH_API_BASE}/__fake/stats`)).json()) as Stats;

beforeEach(async () => {
	await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
});

afterEach(async () => {
	expect((await stats()).bulk.unfilteredRequests, "bulk requests sent without ids").toBe(0);
	await outreachFaults({});
});

/** A destination with the bulk API on, connected with the batches scopes, mapping two segments. */
async function bulkDestination(name = "Bulk", mapping: Record<string, unknown> = SEGMENTS): Promise<CreatedDestination> {
	const created = await createDestination({ name });
	await adminJson(`/api/destinations/${created.id}`, { method: "PATCH", json: { bulkApi: true } });
	await connectDestination(created.id);
	await putMapping(created.id, mapping);
	return { ...created, bulkApi: true };
}

const member = (id: number, s1: string, s2?: string, t = "2026-11-20T10:00:00Z") => ({
	segmentMembership: { ups: { [S1]: { status: s1, lastQualificationTime: t }, ...(s2 ? { [S2]: { status: s2, lastQualificationTime: t } } : {}) } },
	identityMap: { Oid: [{ id: String(id) }] },
});

/**
 * Posts profiles in requests of up to 200: a burst over what the window's PATCH budget (100 calls) drains, so
 * the gate's backlog rule sends it in bulk from the first request on.
 */
async function post(d: CreatedDestination, profiles: unknown[]): Promise<void> {
	for (let i = 0; i < profiles.length; i += 200) await ingestOk(d.id, d.ingestToken, profiles.slice(i, i + 200));
}

/** Prospects that exist at the local Outreach besides a test's own: fill a burst up to the bulk threshold. */
const filler = (from: number, n: number) => Array.from({ length: n }, (_, i) => member(from + i, "realized"));

const patches = async () => (await outreachRequests()).filter((r) => r.method === "PATCH").length;

describe("segment statuses in bulk", () => {
	it("group by field and value across requests and destinations: a few bulk calls for hundreds of writes, none by PATCH", { timeout: 90_000 }, async () => {
		const a = await bulkDestination("Bulk A");
		const b = await bulkDestination("Bulk B");
		const statuses = ["realized", "exited", "existing"];
		await post(a, Array.from({ length: 200 }, (_, i) => member(1000 + i, statuses[i % 3]!, statuses[(i + 1) % 3])));
		await post(b, Array.from({ length: 100 }, (_, i) => member(1300 + i, statuses[i % 2]!)));
		// While the burst is in hand, the Activity answer says it goes in bulk, and why.
		await vi.waitUntil(async () => (await activity(a.id)).delivery.path === "bulk", { timeout: 20_000, interval: 200 });
		expect((await activity(a.id)).delivery.reason).toMatch(/cannot drain them within the window/);
		await settled(a.id, 60_000);
		await settled(b.id, 60_000);
		expect((await activity(a.id)).totals).toMatchObject({ received: 200, delivered: 200, failed: 0 });
		expect((await activity(b.id)).totals).toMatchObject({ received: 100, delivered: 100, failed: 0 });
		expect((await prospectAttributes(1000)).custom4).toBe("realized");
		expect((await prospectAttributes(1000)).custom5).toBe("exited");
		expect((await prospectAttributes(1301)).custom4).toBe("exited");
		const s = await stats();
		// 500 segment writes; the calls of every kind (bulk requests, polls, item pages) stay a few percent of them.
		const calls = (await outreachRequests()).filter((r) => r.path.startsWith("/api/v2/batch")).length;
		expect(s.bulk.items).toBe(500);
		expect(calls, "bulk calls of every kind").toBeLessThanOrEqual(25);
		expect(await patches(), "no segment status went by PATCH").toBe(0);
	});

	it("never lets a slow batch overwrite a newer PATCH of the same field, batches finishing in either order", { timeout: 90_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 }, bulk: { itemsPerSecond: 20, outOfOrder: true } });
		const d = await bulkDestination("Racing", { ...SEGMENTS, attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		// 150 segment-only updates: a burst over the window's budget, so a slow batch (7.5 s at 20 items a second).
		await post(d, Array.from({ length: 150 }, (_, i) => member(2000 + i, "realized", undefined, "2026-11-20T10:00:00Z")));
		await vi.waitUntil(async () => (await stats()).bulk.requests > 0, { timeout: 10_000, interval: 100 });
		// Meanwhile a newer update of one of those prospects, with an attribute: it goes by PATCH.
		await ingestOk(d.id, d.ingestToken, { ...member(2149, "exited", undefined, "2026-11-21T10:00:00Z"), person: { name: { firstName: "Newer" } } });
		await settled(d.id, 60_000);
		expect((await prospectAttributes(2149)).custom4).toBe("exited");
		expect((await prospectAttributes(2148)).custom4).toBe("realized");
	});

	it("cancels a batch that stops making progress when its lease ends, and delivers its updates by PATCH", { timeout: 90_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 }, bulk: { stall: true } });
		const d = await bulkDestination("Stalled");
		await post(d, Array.from({ length: 120 }, (_, i) => member(3000 + i, "realized")));
		const a = await settled(d.id, 60_000);
		expect(a.totals).toMatchObject({ received: 120, delivered: 120, failed: 0 });
		expect((await stats()).bulk.items, "the stalled batch applied nothing").toBe(0);
		expect(await patches()).toBe(120);
		expect((await prospectAttributes(3119)).custom4).toBe("realized");
		const cancels = (await outreachRequests()).filter((r) => r.method === "POST" && /\/batches\/\d+\/actions\/cancel$/.test(r.path));
		expect(cancels).toHaveLength(1);
	});

	it("lists failed items as failed updates with Outreach's info, and replays them once the mapping is fixed", { timeout: 90_000 }, async () => {
		await resetOutreach({
			rateLimit: { limit: 100, windowSeconds: 5 },
			fieldRules: { custom4: { type: "inclusion", definition: ["Active", "Expired"] } },
			prospects: [{ id: 4000 }, { id: 4001 }, ...Array.from({ length: 120 }, (_, i) => ({ id: 4100 + i }))],
		});
		const d = await bulkDestination("Failing items", { identityNamespace: "Oid", segments: [{ segmentId: S1, mappingId: 4 }], statusValues: { realized: "Active" } });
		// 4000 fits the picklist; 4001 gets "exited" (not in it); 4002 does not exist; 120 others fill the burst.
		await post(d, [member(4000, "realized"), member(4001, "exited"), member(4002, "realized"), ...filler(4100, 120)]);
		const a = await settled(d.id, 60_000);
		expect(a.totals).toMatchObject({ received: 123, delivered: 121, failed: 2 });
		const listed = await failures(d.id);
		expect(listed.map((f) => f.prospectId).sort()).toEqual([4001, 4002]);
		expect(listed.find((f) => f.prospectId === 4001)!.reason).toMatch(/Active, Expired.*Mapping ID 4/);
		expect(listed.find((f) => f.prospectId === 4002)!.reason).toMatch(/not found/);

		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: S1, mappingId: 4 }], statusValues: { realized: "Active", exited: "Expired" } });
		await adminJson(`/api/destinations/${d.id}/failures/replay`, { method: "POST", json: { ids: [listed.find((f) => f.prospectId === 4001)!.id] } });
		await settled(d.id, 60_000);
		expect((await prospectAttributes(4001)).custom4).toBe("Expired");
	});
});

describe("falling back to PATCH", () => {
	it("when the grant lacks the batches scopes: the Activity answer says to reconnect", { timeout: 60_000 }, async () => {
		const created = await createDestination({ name: "No scopes" });
		await connectDestination(created.id); // connected before the bulk API was switched on
		await adminJson(`/api/destinations/${created.id}`, { method: "PATCH", json: { bulkApi: true } });
		await putMapping(created.id, SEGMENTS);
		await post(created, Array.from({ length: 10 }, (_, i) => member(5000 + i, "realized")));
		await settled(created.id);
		expect((await stats()).bulk.requests).toBe(0);
		expect(await patches()).toBe(10);
		expect((await activity(created.id)).delivery).toEqual({ path: "patch", reason: expect.stringMatching(/batches\.read and batches\.write.*reconnect/) });
	});

	it("when Outreach refuses a bulk request: the same updates go by PATCH, and so do the next ones for a while", { timeout: 60_000 }, async () => {
		const d = await bulkDestination("Refused");
		await outreachFaults({ status: 403, count: 1 });
		await post(d, Array.from({ length: 120 }, (_, i) => member(6000 + i, "realized")));
		await settled(d.id);
		expect((await activity(d.id)).totals).toMatchObject({ delivered: 120, failed: 0 });
		expect((await prospectAttributes(6119)).custom4).toBe("realized");
		expect((await activity(d.id)).delivery).toMatchObject({ reason: expect.stringMatching(/refused a bulk request/) });
		await post(d, Array.from({ length: 120 }, (_, i) => member(6200 + i, "exited")));
		await settled(d.id);
		expect((await stats()).bulk.requests).toBe(0);
		expect((await prospectAttributes(6319)).custom4).toBe("exited");
	});

	it("when the bulk quota is used up: PATCH, without pausing the hourly budget", { timeout: 60_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 }, bulk: { dailyItemQuota: 5 } });
		const d = await bulkDestination("Quota");
		await post(d, Array.from({ length: 120 }, (_, i) => member(7000 + i, "realized")));
		const a = await settled(d.id);
		expect(a.totals).toMatchObject({ delivered: 120, failed: 0 });
		expect((await stats()).bulk.quota429).toBeGreaterThan(0);
		expect(a.budget.pausedUntil, "the quota's 429 does not pause the PATCH budget").toBeNull();
		expect((await activity(d.id)).delivery).toMatchObject({ reason: expect.stringMatching(/bulk quota/) });
	});
});

describe("bulk requests", () => {
	it("always name their prospects: any grouping becomes requests of one to maxIds distinct ids, every write in exactly one", () => {
		fc.assert(
			fc.property(fc.array(fc.integer({ min: 1, max: 500 }), { maxLength: 300 }), fc.integer({ min: 1, max: 40 }), (prospects, maxIds) => {
				const items = [...new Set(prospects)].map((p, i) => ({ prospect_id: p, n: i }));
				const chunks = bulkChunks(items, maxIds);
				for (const c of chunks) {
					const ids = new Set(c.map((i) => i.prospect_id));
					expect(ids.size).toBeGreaterThan(0);
					expect(ids.size).toBeLessThanOrEqual(maxIds);
				}
				expect(chunks.flat().map((i) => i.n)).toEqual(items.map((i) => i.n));
			}),
			{ numRuns: fuzzRuns() },
		);
	});
});
