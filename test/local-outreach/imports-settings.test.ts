import { beforeEach, describe, expect, it } from "vitest";
import {
	base,
	bulkUpsert,
	createImport,
	expectError,
	expectQuota429,
	fakeStats,
	getImport,
	IMPORT_SCOPES,
	peek,
	record,
	reset,
	signIn,
	sleep,
	waitForImport,
	writesLog,
} from "./helpers.ts";

// Each setting of the `imports` object of /__fake/reset: what Outreach does not publish about its imports.


const records = (from: number, count: number, attributes: Record<string, unknown> = { custom4: "A" }) =>
	Array.from({ length: count }, (_, i) => record(from + i, attributes));

async function importToken(settings: Record<string, unknown>): Promise<string> {
	await reset(settings);
	return (await signIn({ scope: IMPORT_SCOPES })).access_token;
}

describe("local Outreach: import settings", () => {
	beforeEach(() => reset());

	it("maxRecords: more records than maxRecords answer 422 saying the size is the problem", async () => {
		const token = await importToken({ imports: { maxRecords: 3 } });
		const [error] = await expectError(await bulkUpsert(token, records(1, 4)), 422, "validationError");
		expect(error!.detail).toBe("Too many records: an import takes at most 3 records (got 4).");
		expect(error!.source).toEqual({ pointer: "/data/attributes/records" });
		expect((await fakeStats()).imports.requests).toBe(0);
		expect((await createImport(token, records(1, 3))).attributes.total).toBe(3);
	});

	it("maxRecords defaults to 1000", async () => {
		const token = await importToken({ imports: { stall: true } });
		const [error] = await expectError(await bulkUpsert(token, records(1, 1001)), 422, "validationError");
		expect(error!.detail).toContain("at most 1000 records");
		expect((await createImport(token, records(1, 1000))).attributes.total).toBe(1000);
	});

	it("recordsPerSecond: records are applied at that rate (100 a second by default)", async () => {
		let token = await importToken({ imports: { recordsPerSecond: 10 } });
		const imp = await createImport(token, records(1, 6));
		await waitForImport(token, imp.id, undefined, { everyMs: 50 });
		let writes = await writesLog();
		expect(writes).toHaveLength(6);
		// Six records at 10 a second: five gaps of about 100 ms.
		expect(writes[5]!.at - writes[0]!.at).toBeGreaterThanOrEqual(400);

		token = await importToken({});
		const byDefault = await createImport(token, records(1, 31));
		await waitForImport(token, byDefault.id, undefined, { everyMs: 50 });
		writes = await writesLog();
		// 31 records at 100 a second: thirty gaps of about 10 ms.
		expect(writes[30]!.at - writes[0]!.at).toBeGreaterThanOrEqual(250);
	});

	it("recordsPerSecond is for the whole org: two users' imports share it", async () => {
		await reset({
			users: [
				{ id: 1, email: "rep@example.com", password: "outreach" },
				{ id: 2, email: "ann@example.com", password: "pw" },
			],
			imports: { recordsPerSecond: 10 },
		});
		const rep = (await signIn({ scope: IMPORT_SCOPES })).access_token;
		const ann = (await signIn({ scope: IMPORT_SCOPES, email: "ann@example.com", password: "pw" })).access_token;
		const a = await createImport(rep, records(1, 4, { firstName: "A" }));
		const b = await createImport(ann, records(1, 4, { lastName: "B" }));
		expect(b.relationships.creator.data.id).toBe(2);
		await waitForImport(rep, a.id, undefined, { everyMs: 50 });
		await waitForImport(ann, b.id, undefined, { everyMs: 50 });
		const writes = await writesLog();
		expect(writes).toHaveLength(8);
		// Eight records at 10 a second in all, not 10 a second each.
		expect(writes[7]!.at - writes[0]!.at).toBeGreaterThanOrEqual(600);
	});

	it("failureDetail counts (the default): the import says how many records failed, not which", async () => {
		const token = await importToken({ imports: { recordsPerSecond: 2000 } });
		const imp = await createImport(token, [record(1, { firstName: "A" }), record(10_001, { firstName: "X" }), record(2, { custom151: "x" })]);
		const done = await waitForImport(token, imp.id);
		expect(done.attributes).toMatchObject({ total: 3, failures: 2, dupes: 1, errorReason: "2 of the import's 3 records have failed." });
		expect(Object.keys(done.attributes)).not.toContain("failedRecords");
		expect(JSON.stringify(done)).not.toMatch(/10001|custom151|not found/);
	});

	it("failureDetail records: the import adds failedRecords with each failed record's index, id and reason", async () => {
		const token = await importToken({ imports: { recordsPerSecond: 2000, failureDetail: "records" } });
		const imp = await createImport(token, [record(1, { firstName: "A" }), record(10_001, { firstName: "X" }), record(2, { custom151: "x" })]);
		expect(imp.attributes.failedRecords).toEqual([]);
		const done = await waitForImport(token, imp.id);
		expect(done.attributes).toMatchObject({ total: 3, failures: 2, dupes: 1, errorReason: "2 of the import's 3 records have failed." });
		expect(done.attributes.failedRecords).toEqual([
			{ index: 1, id: 10_001, reason: "not found" },
			{ index: 2, id: 2, reason: "'custom151' is not a prospect attribute." },
		]);
	});

	it("outOfOrder true (the default): a later import touching the same field can finish before an earlier one", async () => {
		const token = await importToken({ imports: { recordsPerSecond: 200 } });
		const earlier = await createImport(token, records(1, 40, { custom4: "Old" }));
		const later = await createImport(token, records(1, 2, { custom4: "New" }));
		const laterDone = await waitForImport(token, later.id);
		const earlierDone = await waitForImport(token, earlier.id);
		expect(Date.parse(laterDone.attributes.stateChangedAt)).toBeLessThan(Date.parse(earlierDone.attributes.stateChangedAt));
		// The writes log shows the imports interleaved, not in request order: the older value lands last on prospect 1.
		const order = (await writesLog()).map((w) => w.importId);
		expect(order.lastIndexOf(later.id)).toBeLessThan(order.lastIndexOf(earlier.id));
		expect(order.indexOf(later.id)).toBeLessThan(order.lastIndexOf(earlier.id));
	});

	it("outOfOrder false: imports are applied strictly in creation order", async () => {
		const token = await importToken({ imports: { recordsPerSecond: 200, outOfOrder: false } });
		const earlier = await createImport(token, records(1, 40, { custom4: "Old" }));
		const later = await createImport(token, records(1, 2, { custom4: "New" }));
		await waitForImport(token, later.id);
		const order = (await writesLog()).map((w) => w.importId);
		expect(order).toEqual([...Array<number>(40).fill(earlier.id), later.id, later.id]);
		expect(await peek("/__fake/prospects/1")).toMatchObject({ data: { attributes: { custom4: "New" } } });
	});

	it("stall: new imports stay processing and apply nothing", async () => {
		const token = await importToken({ imports: { stall: true, recordsPerSecond: 10_000 } });
		const imp = await createImport(token, records(1, 3));
		expect(imp.attributes.state).toBe("processing");
		await sleep(300);
		const stalled = await getImport(token, imp.id);
		expect(stalled.attributes).toMatchObject({ state: "processing", total: 3, failures: 0, dupes: 0, errorReason: null });
		expect(await writesLog()).toEqual([]);
		expect(await peek("/__fake/prospects/1")).toMatchObject({ data: { attributes: {} } });
		expect((await fakeStats()).imports).toMatchObject({ requests: 1, records: 0 });
	});

	it("dailyRecordQuota: a request over what is left answers 429 saying the import quota is exhausted, uncounted", async () => {
		const token = await importToken({ imports: { dailyRecordQuota: 5, recordsPerSecond: 2000 } });
		await createImport(token, records(1, 3));
		const detail = await expectQuota429(await bulkUpsert(token, records(4, 3)), "importQuotaExceeded");
		expect(detail).toMatch(
			/^The daily import quota is exhausted: this request has 3 records, and 2 of the org's 5 import records a day are left until \d{4}-\d\d-\d\dT[\d:.]+Z\.$/,
		);
		expect((await fakeStats()).imports).toMatchObject({ requests: 2, quota429: 1 });
		// What is left still goes through.
		expect((await createImport(token, records(4, 2))).attributes.total).toBe(2);
		await expectError(await bulkUpsert(token, records(6, 1)), 429, "importQuotaExceeded");
		expect((await fakeStats()).imports.quota429).toBe(2);
		expect(await (await fetch(`${base}/__fake/prospects/6`)).json()).toMatchObject({ data: { attributes: {} } });
	});

	it("an empty reset restores the defaults; the imports object is validated", async () => {
		await importToken({ imports: { maxRecords: 1, failureDetail: "records" } });
		const token = await importToken({ imports: { stall: true } });
		const imp = await createImport(token, records(1, 2));
		expect(imp.attributes.total).toBe(2);
		expect(Object.keys(imp.attributes)).not.toContain("failedRecords");

		const res = await fetch(`${base}/__fake/reset`, {
			method: "POST",
			body: JSON.stringify({
				imports: { maxRecords: 0, recordsPerSecond: -1, failureDetail: "ids", outOfOrder: "yes", stall: 1, dailyRecordQuota: 1.5, speed: 3 },
			}),
		});
		expect(res.status).toBe(400);
		const body = (await res.json()) as { problems: { path: string }[] };
		expect(body.problems.map((p) => p.path)).toEqual(
			expect.arrayContaining([
				"imports.maxRecords",
				"imports.recordsPerSecond",
				"imports.failureDetail",
				"imports.outOfOrder",
				"imports.stall",
				"imports.dailyRecordQuota",
				"imports",
			]),
		);
	});
});
