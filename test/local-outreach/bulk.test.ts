import { beforeEach, describe, expect, it } from "vitest";
import {
	api,
	base,
	BULK_SCOPES,
	bulkModify,
	createBatch,
	expectError,
	fakeStats,
	getBatch,
	JSON_API,
	peek,
	reset,
	resetWhileApplying,
	signIn,
	sleep,
	statesUntilFinished,
	waitForBatch,
	writesLog,
	type BatchResource,
	type ItemsPage,
} from "./helpers.ts";


/** GET /batchItems with the given query (a counted API call). */
async function items(token: string, query: string): Promise<ItemsPage> {
	const res = await api(token, "GET", `/batchItems?${query}`);
	expect(res.status, await res.clone().text()).toBe(200);
	return (await res.json()) as ItemsPage;
}

let token: string;

describe("local Outreach: the bulk API", () => {
	beforeEach(async () => {
		await reset({ bulk: { itemsPerSecond: 2000 } });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
	});

	it("answers a bulk modify with a pending batch resource, and applies it in the background", async () => {
		const before = Date.now();
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids: [1, 2, 3] });
		expect(batch).toEqual({
			type: "batch",
			id: expect.any(Number),
			attributes: expect.objectContaining({
				action: "prospectsBulkModify",
				state: "pending",
				total: 3,
				pending: 3,
				failures: 0,
				startedAt: null,
				finishedAt: null,
				canceledAt: null,
			}),
			links: { self: `${base}/api/v2/batches/${batch.id}` },
		});
		expect(Date.parse(batch.attributes.createdAt)).toBeGreaterThanOrEqual(before - 1000);
		expect(batch.attributes.updatedAt).toBe(batch.attributes.createdAt);

		const done = await waitForBatch(token, batch.id);
		expect(done.attributes).toMatchObject({ state: "finished", total: 3, pending: 0, failures: 0, canceledAt: null });
		expect(Date.parse(done.attributes.startedAt!)).toBeGreaterThanOrEqual(Date.parse(batch.attributes.createdAt));
		expect(Date.parse(done.attributes.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done.attributes.startedAt!));
		for (const id of [1, 2, 3]) expect(await peek(`/__fake/prospects/${id}`)).toMatchObject({ data: { attributes: { custom4: "Active" } } });
		expect(await peek("/__fake/prospects/4")).toMatchObject({ data: { attributes: {} } });
		expect((await fakeStats()).bulk).toEqual({ requests: 1, items: 3, unfilteredRequests: 0, quota429: 0 });
	});

	it("moves a batch pending → processing → finished", async () => {
		await reset({ bulk: { itemsPerSecond: 10 } });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids: [1, 2, 3, 4] });
		expect(await statesUntilFinished(batch, (done) => waitForBatch(token, batch.id, done))).toEqual(["pending", "processing", "finished"]);
	});

	it("with no ids and no filter updates EVERY prospect, and counts the request as unfiltered", async () => {
		await reset({ prospects: [5, 6, { id: 20_000, attributes: { firstName: "Ann" } }], bulk: { itemsPerSecond: 2000 } });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "Active" });
		expect(batch.attributes.total).toBe(3);
		await waitForBatch(token, batch.id);
		for (const id of [5, 6]) expect(await peek(`/__fake/prospects/${id}`)).toMatchObject({ data: { attributes: { custom4: "Active" } } });
		expect(await peek("/__fake/prospects/20000")).toMatchObject({ data: { attributes: { firstName: "Ann", custom4: "Active" } } });

		// "ids": [] names nothing, so it is the same request.
		const empty = await createBatch(token, { fieldName: "custom5", fieldValue: "x", ids: [] });
		expect(empty.attributes.total).toBe(3);
		expect((await fakeStats()).bulk).toMatchObject({ requests: 2, unfilteredRequests: 2 });
	});

	it("an unfiltered request over the default prospects covers all 10,000", async () => {
		await reset({ bulk: { itemsPerSecond: 1_000_000 } });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids: [] });
		expect(batch.attributes.total).toBe(10_000);
		await waitForBatch(token, batch.id);
		expect(await peek("/__fake/prospects/10000")).toMatchObject({ data: { attributes: { custom4: "Active" } } });
		expect((await fakeStats()).bulk).toEqual({ requests: 1, items: 10_000, unfilteredRequests: 1, quota429: 0 });
	});

	it("takes the ids as a filter[id] or actionParams[filter][id] query parameter instead", async () => {
		const byFilter = await createBatch(token, { fieldName: "custom4", fieldValue: "A" }, "?filter[id]=11,12");
		const byActionParams = await createBatch(token, { fieldName: "custom4", fieldValue: "B" }, "?actionParams[filter][id]=13");
		expect([byFilter.attributes.total, byActionParams.attributes.total]).toEqual([2, 1]);
		await waitForBatch(token, byFilter.id);
		await waitForBatch(token, byActionParams.id);
		expect(await peek("/__fake/prospects/12")).toMatchObject({ data: { attributes: { custom4: "A" } } });
		expect(await peek("/__fake/prospects/13")).toMatchObject({ data: { attributes: { custom4: "B" } } });
		expect(await peek("/__fake/prospects/14")).toMatchObject({ data: { attributes: {} } });
		expect((await fakeStats()).bulk.unfilteredRequests).toBe(0);
	});

	it("answers 422 when both ids and a filter are given, and applies nothing", async () => {
		const [error] = await expectError(await bulkModify(token, { fieldName: "custom4", fieldValue: "A", ids: [1] }, { query: "?filter[id]=2" }), 422, "validationError");
		expect(error!.detail).toBe("Give either 'ids' or a filter, not both.");
		await sleep(50);
		expect(await writesLog()).toEqual([]);
		expect((await fakeStats()).bulk).toEqual({ requests: 0, items: 0, unfilteredRequests: 0, quota429: 0 });
	});

	it("answers 422 for an unknown or read-only fieldName, a value of the wrong type, and a malformed body", async () => {
		const cases: [unknown, string, RegExp][] = [
			[{ data: { attributes: { fieldName: "custom151", fieldValue: "A", ids: [1] } } }, "/data/attributes/fieldName", /not a prospect attribute/],
			[{ data: { attributes: { fieldName: "createdAt", fieldValue: "A", ids: [1] } } }, "/data/attributes/fieldName", /read-only/],
			[{ data: { attributes: { fieldName: "emails", fieldValue: "a@example.com", ids: [1] } } }, "/data/attributes/fieldValue", /array/],
			[{ data: { attributes: { fieldName: "custom4", ids: [1] } } }, "/data/attributes/fieldValue", /'fieldValue' is required/],
			[{ data: { attributes: { fieldName: "custom4", fieldValue: "A", ids: ["1"] } } }, "/data/attributes/ids/0", /./],
			[{ data: { attributes: { field: "custom4", value: "A", ids: [1] } } }, "/data/attributes", /Unrecognized key/],
			[{ fieldName: "custom4" }, "/data", /./],
		];
		for (const [body, pointer, detail] of cases) {
			const res = await api(token, "POST", "/batches/actions/prospectsBulkModify", { body: JSON.stringify(body), contentType: JSON_API });
			const errors = await expectError(res, 422, "validationError");
			expect(errors.map((e) => e.source), JSON.stringify(body)).toContainEqual({ pointer });
			expect(errors.map((e) => e.detail).join(" "), JSON.stringify(body)).toMatch(detail);
		}
		await expectError(await api(token, "POST", "/batches/actions/prospectsBulkModify", { body: "{", contentType: JSON_API }), 422, "validationError");
		for (const query of ["?filter[id]=1,x", "?filter[id]=", "?filter[name]=Ann", "?filter[id]=1&actionParams[filter][id]=2"]) {
			await expectError(await bulkModify(token, { fieldName: "custom4", fieldValue: "A" }, { query }), 422, "validationError");
		}
		expect((await fakeStats()).bulk.requests).toBe(0);
	});

	it("needs batches.write and prospects.write: 403 unauthorizedOauthScope otherwise", async () => {
		const body = { fieldName: "custom4", fieldValue: "A", ids: [1] };
		const noBatches = (await signIn({ scope: "prospects.read prospects.write users.read" })).access_token;
		const [error] = await expectError(await bulkModify(noBatches, body), 403, "unauthorizedOauthScope");
		expect(error!.detail).toContain("batches.write");
		const readOnly = (await signIn({ scope: "prospects.write batches.read" })).access_token;
		await expectError(await bulkModify(readOnly, body), 403, "unauthorizedOauthScope");
		const noProspects = (await signIn({ scope: "prospects.read batches.read batches.write" })).access_token;
		const [missing] = await expectError(await bulkModify(noProspects, body), 403, "unauthorizedOauthScope");
		expect(missing!.detail).toContain("prospects.write");
		const all = (await signIn({ scope: "prospects.all batches.all" })).access_token;
		expect((await bulkModify(all, body)).status).toBe(200);
	});

	it("reading a batch or its items needs batches.read; cancelling needs batches.write", async () => {
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: [1] });
		const writer = (await signIn({ scope: "prospects.write batches.write" })).access_token;
		const [error] = await expectError(await api(writer, "GET", `/batches/${batch.id}`), 403, "unauthorizedOauthScope");
		expect(error!.detail).toContain("batches.read");
		await expectError(await api(writer, "GET", `/batchItems?filter[batch][id]=${batch.id}`), 403, "unauthorizedOauthScope");
		const reader = (await signIn({ scope: "batches.read" })).access_token;
		expect((await api(reader, "GET", `/batches/${batch.id}`)).status).toBe(200);
		await expectError(await api(reader, "POST", `/batches/${batch.id}/actions/cancel`, { contentType: JSON_API }), 403, "unauthorizedOauthScope");
	});

	it("answers 404 for an unknown batch; an unknown batch has no items", async () => {
		await expectError(await api(token, "GET", "/batches/999"), 404, "resourceNotFound");
		await expectError(await api(token, "GET", "/batches/abc"), 404, "resourceNotFound");
		await expectError(await api(token, "POST", "/batches/999/actions/cancel", { contentType: JSON_API }), 404, "resourceNotFound");
		expect(await items(token, "filter[batch][id]=999")).toEqual({ data: [], links: {}, meta: { count: 0 } });
	});

	it("counts each bulk request, poll and items page as 1 call against the user's window", async () => {
		await reset({ rateLimit: { limit: 5, windowSeconds: 60 }, bulk: { itemsPerSecond: 2000 } });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "A", ids: [1, 2] });
		await getBatch(token, batch.id);
		await items(token, `filter[batch][id]=${batch.id}`);
		const cancel = await api(token, "POST", `/batches/${batch.id}/actions/cancel`, { contentType: JSON_API });
		expect(cancel.status).toBe(200);
		expect(cancel.headers.get("X-RateLimit-Remaining")).toBe("1");
		expect((await fakeStats()).usage).toEqual([{ userId: 1, windowStart: expect.any(Number), count: 4 }]);
		await getBatch(token, batch.id);
		await expectError(await api(token, "GET", `/batches/${batch.id}`), 429, "rateLimitExceeded");
		await expectError(await bulkModify(token, { fieldName: "custom4", fieldValue: "A", ids: [1] }), 429, "rateLimitExceeded");
		expect((await fakeStats()).usage[0]!.count).toBe(5);
		expect((await fakeStats()).requests).toMatchObject({
			"POST /api/v2/batches/actions/prospectsBulkModify": { "200": 1, "429": 1 },
			"GET /api/v2/batches/:id": { "200": 2, "429": 1 },
			"POST /api/v2/batches/:id/actions/cancel": { "200": 1 },
			"GET /api/v2/batchItems": { "200": 1 },
		});
	});

	it("cancel stops the unapplied items (cancelled, not failed) and leaves the applied ones applied", async () => {
		await reset({ bulk: { itemsPerSecond: 20 } });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
		const ids = Array.from({ length: 20 }, (_, i) => i + 1);
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids });
		await waitForBatch(token, batch.id, (b) => b.attributes.pending <= 17);
		const res = await api(token, "POST", `/batches/${batch.id}/actions/cancel`, { contentType: JSON_API });
		expect(res.status).toBe(200);
		const cancelled = ((await res.json()) as { data: BatchResource }).data;
		expect(cancelled.attributes).toMatchObject({ state: "cancelled", total: 20, pending: 0, failures: 0, finishedAt: null });
		expect(cancelled.attributes.canceledAt).not.toBeNull();

		const applied = (await writesLog()).map((w) => w.prospectId);
		expect(applied.length).toBeGreaterThanOrEqual(3);
		expect(applied.length).toBeLessThan(20);
		expect(applied).toEqual(ids.slice(0, applied.length));
		await sleep(300);
		expect(await writesLog()).toHaveLength(applied.length); // nothing more lands
		for (const id of applied) expect(await peek(`/__fake/prospects/${id}`)).toMatchObject({ data: { attributes: { custom4: "Active" } } });
		expect(await peek("/__fake/prospects/20")).toMatchObject({ data: { attributes: {} } });

		const page = await items(token, `filter[batch][id]=${batch.id}&page[size]=1000`);
		expect(page.data.map((i) => i.attributes.state)).toEqual([...ids.map((_, i) => (i < applied.length ? "finished" : "cancelled"))]);
		expect(page.data.every((i) => !i.attributes.failed)).toBe(true);
		expect((await items(token, `filter[batch][id]=${batch.id}&filter[failed]=true`)).data).toEqual([]);
		// Cancelling again, or a finished batch, changes nothing.
		expect((await getBatch(token, batch.id)).attributes.state).toBe("cancelled");
		const other = await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids: [1] });
		await waitForBatch(token, other.id);
		const again = await api(token, "POST", `/batches/${other.id}/actions/cancel`, { contentType: JSON_API });
		expect(((await again.json()) as { data: BatchResource }).data.attributes).toMatchObject({ state: "finished", canceledAt: null });
	});

	it("fails items for unknown prospects (info 'not found') and values outside a field rule; the batch goes on", async () => {
		await reset({ fieldRules: { custom4: { type: "inclusion", definition: ["Active", "Expired"] } }, bulk: { itemsPerSecond: 2000 } });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids: [1, 10_001, 2, 10_002] });
		const done = await waitForBatch(token, batch.id);
		expect(done.attributes).toMatchObject({ state: "finished", total: 4, pending: 0, failures: 2 });
		const failed = await items(token, `filter[batch][id]=${batch.id}&filter[failed]=true`);
		expect(failed.data.map((i) => i.attributes)).toEqual([
			{ batchId: batch.id, prospectId: 10_001, state: "failed", failed: true, info: "not found", createdAt: expect.any(String) },
			{ batchId: batch.id, prospectId: 10_002, state: "failed", failed: true, info: "not found", createdAt: expect.any(String) },
		]);
		expect((await fakeStats()).bulk.items).toBe(2);

		const outside = await createBatch(token, { fieldName: "custom4", fieldValue: "Gone", ids: [3, 4] });
		await waitForBatch(token, outside.id);
		const rule = await items(token, `filter[batch][id]=${outside.id}&filter[failed]=true`);
		expect(rule.data.map((i) => i.attributes.info)).toEqual(["'custom4' must be one of: Active, Expired.", "'custom4' must be one of: Active, Expired."]);
		expect(await peek("/__fake/prospects/3")).toMatchObject({ data: { attributes: {} } });
	});

	it("pages batchItems with page[size] and a links.next cursor; filter[failed] picks failed or succeeded items", async () => {
		const ids = [1, 10_001, 2, 3, 10_002, 4, 5];
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids });
		await waitForBatch(token, batch.id);

		const seen: number[] = [];
		let url: string | undefined = `${base}/api/v2/batchItems?filter[batch][id]=${batch.id}&page[size]=3`;
		const sizes: number[] = [];
		while (url) {
			const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
			expect(res.status).toBe(200);
			const page = (await res.json()) as ItemsPage;
			expect(page.meta.count).toBe(7);
			sizes.push(page.data.length);
			seen.push(...page.data.map((i) => i.attributes.prospectId));
			url = page.links.next;
		}
		expect(sizes).toEqual([3, 3, 1]);
		expect(seen).toEqual(ids);

		const failedFirst = await items(token, `filter[batch][id]=${batch.id}&filter[failed]=true&page[size]=1`);
		expect(failedFirst.data.map((i) => i.attributes.prospectId)).toEqual([10_001]);
		expect(failedFirst.meta.count).toBe(2);
		const failedNext = (await (await fetch(failedFirst.links.next!, { headers: { Authorization: `Bearer ${token}` } })).json()) as ItemsPage;
		expect(failedNext.data.map((i) => i.attributes.prospectId)).toEqual([10_002]);
		expect(failedNext.links.next).toBeUndefined();

		const succeeded = await items(token, `filter[batch][id]=${batch.id}&filter[failed]=false`);
		expect(succeeded.data.map((i) => i.attributes.prospectId)).toEqual([1, 2, 3, 4, 5]);
		expect(succeeded.data.every((i) => i.attributes.state === "finished" && i.attributes.info === null)).toBe(true);
		// Item ids increase through the batch.
		const all = await items(token, `filter[batch][id]=${batch.id}`);
		expect(all.data.map((i) => i.id)).toEqual([...all.data.map((i) => i.id)].sort((a, b) => a - b));
	});

	it("answers 100 items a page by default and refuses a page size over 1000", async () => {
		const ids = Array.from({ length: 150 }, (_, i) => i + 1);
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids });
		const first = await items(token, `filter[batch][id]=${batch.id}`);
		expect(first.data).toHaveLength(100);
		expect(first.links.next).toContain("page[after]=");
		expect((await items(token, `filter[batch][id]=${batch.id}&page[size]=1000`)).data).toHaveLength(150);
		for (const query of ["page[size]=1001", "page[size]=0", "page[size]=x", "filter[failed]=yes", "page[after]=x", ""]) {
			const filter = query.startsWith("filter[failed]") || query === "" ? "" : `filter[batch][id]=${batch.id}&`;
			await expectError(await api(token, "GET", `/batchItems?${filter}${query}`), 400, "badRequest");
		}
	});

	it("reset forgets running batches and stops applying them", async () => {
		await reset({ bulk: { itemsPerSecond: 20 } });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
		await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids: Array.from({ length: 40 }, (_, i) => i + 1) });
		await resetWhileApplying();
		expect((await fakeStats()).bulk).toEqual({ requests: 0, items: 0, unfilteredRequests: 0, quota429: 0 });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
		await expectError(await api(token, "GET", "/batches/1"), 404, "resourceNotFound");
	});
});
