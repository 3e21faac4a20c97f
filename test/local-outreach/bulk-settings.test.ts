import { beforeEach, describe, expect, it } from "vitest";
import {
	api,
	base,
	BULK_SCOPES,
	bulkModify,
	createBatch,
	expectError,
	expectQuota429,
	fakeStats,
	getBatch,
	JSON_API,
	peek,
	reset,
	signIn,
	sleep,
	waitForBatch,
	writesLog,
} from "./helpers.ts";

// Each setting of the `bulk` object of /__fake/reset: what Outreach does not publish about its bulk API.


const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

async function bulkToken(settings: Record<string, unknown>): Promise<string> {
	await reset(settings);
	return (await signIn({ scope: BULK_SCOPES })).access_token;
}

describe("local Outreach: bulk settings", () => {
	beforeEach(() => reset());

	it("maxIds: more ids than maxIds answer 422 saying the size is the problem (ids or filter)", async () => {
		const token = await bulkToken({ bulk: { maxIds: 3 } });
		const [error] = await expectError(await bulkModify(token, { fieldName: "custom4", fieldValue: "A", ids: [1, 2, 3, 4] }), 422, "validationError");
		expect(error!.detail).toBe("Too many ids: a bulk action takes at most 3 ids (got 4).");
		expect(error!.source).toEqual({ pointer: "/data/attributes/ids" });
		const [viaFilter] = await expectError(await bulkModify(token, { fieldName: "custom4", fieldValue: "A" }, { query: "?filter[id]=1,2,3,4" }), 422, "validationError");
		expect(viaFilter!.detail).toBe("Too many ids: a bulk action takes at most 3 ids (got 4).");
		expect((await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: [1, 2, 3] })).attributes.total).toBe(3);
	});

	it("maxIds defaults to 10000", async () => {
		const token = await bulkToken({});
		const [error] = await expectError(await bulkModify(token, { fieldName: "custom4", fieldValue: "A", ids: range(1, 10_001) }), 422, "validationError");
		expect(error!.detail).toContain("at most 10000 ids");
		expect((await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: range(1, 10_000) })).attributes.total).toBe(10_000);
	});

	it("itemsPerSecond: items are applied at that rate", async () => {
		let token = await bulkToken({ bulk: { itemsPerSecond: 10 } });
		const slow = await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: range(1, 6) });
		await waitForBatch(token, slow.id, undefined, { everyMs: 50 });
		const writes = await writesLog();
		expect(writes).toHaveLength(6);
		// Six items at 10 a second: five gaps of about 100 ms.
		expect(writes[5]!.at - writes[0]!.at).toBeGreaterThanOrEqual(400);

		token = await bulkToken({ bulk: { itemsPerSecond: 10_000 } });
		const started = Date.now();
		const fast = await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: range(1, 200) });
		await waitForBatch(token, fast.id, undefined, { everyMs: 10 });
		expect(Date.now() - started).toBeLessThan(1000);
	});

	it("itemsPerSecond is for the whole org: two users' batches share it", async () => {
		await reset({
			users: [
				{ id: 1, email: "rep@example.com", password: "outreach" },
				{ id: 2, email: "ann@example.com", password: "pw" },
			],
			bulk: { itemsPerSecond: 10 },
		});
		const rep = (await signIn({ scope: BULK_SCOPES })).access_token;
		const ann = (await signIn({ scope: BULK_SCOPES, email: "ann@example.com", password: "pw" })).access_token;
		const a = await createBatch(rep, { fieldName: "custom4", fieldValue: "A", ids: range(1, 4) });
		const b = await createBatch(ann, { fieldName: "custom5", fieldValue: "B", ids: range(1, 4) });
		await waitForBatch(rep, a.id, undefined, { everyMs: 50 });
		await waitForBatch(ann, b.id, undefined, { everyMs: 50 });
		const writes = await writesLog();
		expect(writes).toHaveLength(8);
		// Eight items at 10 a second in all, not 10 a second each.
		expect(writes[7]!.at - writes[0]!.at).toBeGreaterThanOrEqual(600);
	});

	it("outOfOrder true (the default): a later batch on the same field can finish before an earlier one", async () => {
		const token = await bulkToken({ bulk: { itemsPerSecond: 200 } });
		const earlier = await createBatch(token, { fieldName: "custom4", fieldValue: "Old", ids: range(1, 40) });
		const later = await createBatch(token, { fieldName: "custom4", fieldValue: "New", ids: [1, 2] });
		const laterDone = await waitForBatch(token, later.id);
		const earlierDone = await waitForBatch(token, earlier.id);
		expect(Date.parse(laterDone.attributes.finishedAt!)).toBeLessThan(Date.parse(earlierDone.attributes.finishedAt!));
		// The writes log shows the batches interleaved, not in request order.
		const order = (await writesLog()).map((w) => w.batchId);
		expect(order.lastIndexOf(later.id)).toBeLessThan(order.lastIndexOf(earlier.id));
		expect(order.indexOf(later.id)).toBeLessThan(order.lastIndexOf(earlier.id));
	});

	it("outOfOrder false: batches are applied strictly in creation order", async () => {
		const token = await bulkToken({ bulk: { itemsPerSecond: 200, outOfOrder: false } });
		const earlier = await createBatch(token, { fieldName: "custom4", fieldValue: "Old", ids: range(1, 40) });
		const later = await createBatch(token, { fieldName: "custom4", fieldValue: "New", ids: [1, 2] });
		await waitForBatch(token, later.id);
		const order = (await writesLog()).map((w) => w.batchId);
		expect(order).toEqual([...Array<number>(40).fill(earlier.id), later.id, later.id]);
		expect(await peek("/__fake/prospects/1")).toMatchObject({ data: { attributes: { custom4: "New" } } });
		expect(Date.parse((await getBatch(token, earlier.id)).attributes.finishedAt!)).toBeLessThanOrEqual(
			Date.parse((await getBatch(token, later.id)).attributes.finishedAt!),
		);
	});

	it("stall: new batches stay processing and apply nothing; they can still be cancelled", async () => {
		const token = await bulkToken({ bulk: { stall: true, itemsPerSecond: 10_000 } });
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: [1, 2, 3] });
		await sleep(300);
		const stalled = await getBatch(token, batch.id);
		expect(stalled.attributes).toMatchObject({ state: "processing", total: 3, pending: 3, failures: 0, finishedAt: null });
		expect(stalled.attributes.startedAt).not.toBeNull();
		expect(await writesLog()).toEqual([]);
		expect(await peek("/__fake/prospects/1")).toMatchObject({ data: { attributes: {} } });
		const res = await api(token, "POST", `/batches/${batch.id}/actions/cancel`, { contentType: JSON_API });
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ data: { attributes: { state: "cancelled", pending: 0 } } });
	});

	it("dailyItemQuota: a request over what is left answers 429 saying the bulk quota is exhausted, uncounted", async () => {
		const token = await bulkToken({ bulk: { dailyItemQuota: 5 } });
		await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: [1, 2, 3] });
		const detail = await expectQuota429(await bulkModify(token, { fieldName: "custom4", fieldValue: "A", ids: [4, 5, 6] }), "bulkQuotaExceeded");
		expect(detail).toMatch(
			/^The daily bulk quota is exhausted: this request has 3 items, and 2 of the org's 5 bulk items a day are left until \d{4}-\d\d-\d\dT[\d:.]+Z\.$/,
		);
		expect((await fakeStats()).bulk).toMatchObject({ requests: 2, quota429: 1 });
		// What is left still goes through.
		expect((await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: [4, 5] })).attributes.total).toBe(2);
		await expectError(await bulkModify(token, { fieldName: "custom4", fieldValue: "A", ids: [6] }), 429, "bulkQuotaExceeded");
		expect((await fakeStats()).bulk.quota429).toBe(2);
	});

	it("dailyItemQuota counts every prospect of an unfiltered request", async () => {
		const token = await bulkToken({ prospects: [1, 2, 3], bulk: { dailyItemQuota: 2 } });
		await expectError(await bulkModify(token, { fieldName: "custom4", fieldValue: "A" }), 429, "bulkQuotaExceeded");
		expect((await fakeStats()).bulk).toMatchObject({ requests: 1, unfilteredRequests: 1, quota429: 1 });
	});

	it("an empty reset restores the defaults; the bulk object is validated", async () => {
		await bulkToken({ bulk: { maxIds: 1 } });
		const token = await bulkToken({});
		expect((await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: [1, 2] })).attributes.total).toBe(2);

		const res = await fetch(`${base}/__fake/reset`, {
			method: "POST",
			body: JSON.stringify({ bulk: { maxIds: 0, itemsPerSecond: -1, outOfOrder: "yes", stall: 1, dailyItemQuota: 1.5, speed: 3 } }),
		});
		expect(res.status).toBe(400);
		const body = (await res.json()) as { problems: { path: string }[] };
		expect(body.problems.map((p) => p.path)).toEqual(
			expect.arrayContaining(["bulk.maxIds", "bulk.itemsPerSecond", "bulk.outOfOrder", "bulk.stall", "bulk.dailyItemQuota", "bulk"]),
		);
	});
});
