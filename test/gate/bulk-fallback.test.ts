import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bulkChunks } from "../../src/gate/bulk";
import { auditHooks } from "../helpers/audit";
import { adminJson, connectDestination, createDestination, outreachFaults, resetOutreach } from "../helpers/control";
import { activity, prospectAttributes, putMapping, settled } from "../helpers/data";
import { bulkDestination, bulkStats as stats, expectNoUnfilteredBulk, member, patches, post, resetForBulk, SEGMENTS } from "../helpers/bulk";
import { fuzzRuns } from "../suite-size";

/** Segment statuses fall back to PATCH when bulk is not possible, and bulk requests always name their prospects (see bulk.test.ts). */
auditHooks();

beforeEach(resetForBulk);
afterEach(expectNoUnfilteredBulk);

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
