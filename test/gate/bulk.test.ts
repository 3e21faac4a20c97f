import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { auditHooks } from "../helpers/audit";
import { adminJson, resetOutreach } from "../helpers/control";
import { activity, failures, ingestOk, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";
import { bulkDestination, bulkStats as stats, expectNoUnfilteredBulk, filler, member, patches, post, resetForBulk, S1, SEGMENTS } from "../helpers/bulk";

/**
 * Segment statuses through Outreach's bulk API (the bulk issue), against the local Outreach's bulk API at its
 * pessimistic defaults unless a test says otherwise: writes grouped by (field, value) across requests and
 * destinations, every bulk call within the same budget, a running batch's fields locked under a lease, failed
 * items listed with Outreach's info, and PATCH whenever bulk is not possible. Every test ends with the write
 * audit, and with no bulk request sent without explicit ids.
 */

auditHooks();

beforeEach(resetForBulk);
afterEach(expectNoUnfilteredBulk);

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

	it("sends only the newest waiting status of a prospect's field: an older one arriving behind it is superseded, never written", { timeout: 90_000 }, async () => {
		const d = await bulkDestination("Newest only");
		// 5000's "exited" comes first, so the (custom4, exited) group is formed before the (custom4, realized) one.
		await post(d, [member(5000, "exited"), member(5001, "realized", undefined, "2026-11-21T10:00:00Z"), ...filler(5100, 150)]);
		// While both wait to fill, an older qualification of 5001 arrives out of order, with the other status.
		await ingestOk(d.id, d.ingestToken, [member(5001, "exited", undefined, "2026-11-19T10:00:00Z")]);
		const a = await settled(d.id, 60_000);
		expect(a.totals).toMatchObject({ received: 153, failed: 0 });
		expect((await prospectAttributes(5001)).custom4).toBe("realized");
		const { writes } = (await (await fetch(`${env.OUTREACH_API_BASE}/__fake/writes`)).json()) as { writes: { prospectId: number; field: string; value: unknown }[] };
		const of5001 = writes.filter((w) => w.prospectId === 5001 && w.field === "custom4").map((w) => w.value);
		expect(of5001, "the older status is never written, not even before the newer one").toEqual(["realized"]);
		expect((await stats()).bulk.items, "one bulk item per prospect: the older status never went").toBe(152);
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

