import { beforeEach, describe, expect, it } from "vitest";
import {
	api,
	base,
	bulkUpsert,
	createImport,
	errorsOf,
	expectError,
	fakeStats,
	getImport,
	IMPORT_SCOPES,
	JSON_API,
	patchProspect,
	peek,
	record,
	reset,
	resetWhileApplying,
	signIn,
	sleep,
	statesUntilFinished,
	waitForImport,
	writesLog,
	type ImportResource,
} from "./helpers.ts";

// Outreach's imports (POST /imports/actions/bulkUpsert, GET /imports/:id) in the local Outreach.


let token: string;

async function importToken(settings: Record<string, unknown> = {}, scope = IMPORT_SCOPES): Promise<string> {
	await reset(settings);
	return (await signIn({ scope })).access_token;
}

describe("local Outreach: imports", () => {
	beforeEach(async () => {
		token = await importToken({ imports: { recordsPerSecond: 2000 } });
	});

	it("answers a bulkUpsert with a pending import resource, and applies it in the background", async () => {
		const before = Date.now();
		const imp = await createImport(token, [record(1, { firstName: "Ann", custom4: "Active" }), record(2, { lastName: "Lee" }), record("3", { title: "CTO" })], {
			fileName: "aep.json",
		});
		expect(imp).toEqual({
			type: "import",
			id: expect.any(Number),
			attributes: {
				dupeMethod: "overwriteNoCreate",
				fileName: "aep.json",
				state: "pending",
				total: 3,
				failures: 0,
				dupes: 0,
				errorReason: null,
				createdAt: expect.any(String),
				stateChangedAt: expect.any(String),
				updatedAt: expect.any(String),
			},
			relationships: { creator: { data: { type: "user", id: 1 } } },
			links: { self: `${base}/api/v2/imports/${imp.id}` },
		});
		expect(Date.parse(imp.attributes.createdAt)).toBeGreaterThanOrEqual(before - 1000);

		const done = await waitForImport(token, imp.id);
		expect(done.attributes).toMatchObject({ state: "finished", total: 3, failures: 0, dupes: 3, errorReason: null });
		expect(Date.parse(done.attributes.stateChangedAt)).toBeGreaterThanOrEqual(Date.parse(imp.attributes.createdAt));
		expect(await peek("/__fake/prospects/1")).toMatchObject({ data: { attributes: { firstName: "Ann", custom4: "Active" } } });
		expect(await peek("/__fake/prospects/2")).toMatchObject({ data: { attributes: { lastName: "Lee" } } });
		expect(await peek("/__fake/prospects/3")).toMatchObject({ data: { attributes: { title: "CTO" } } });
		expect(await peek("/__fake/prospects/4")).toEqual({ data: { type: "prospect", id: 4, attributes: {} } });
		expect((await fakeStats()).imports).toEqual({ requests: 1, records: 3, created: 0, quota429: 0 });
	});

	it("moves an import pending → processing → finished", async () => {
		token = await importToken({ imports: { recordsPerSecond: 10 } });
		const imp = await createImport(token, [1, 2, 3, 4].map((id) => record(id, { custom4: "Active" })));
		expect(await statesUntilFinished(imp, (done) => waitForImport(token, imp.id, done))).toEqual(["pending", "processing", "finished"]);
	});

	it("logs each applied value in GET /__fake/writes with via import and the importId, record by record in order", async () => {
		token = await importToken({ imports: { recordsPerSecond: 20 } });
		const imp = await createImport(token, [record(3, { firstName: "C", custom4: "Active" }), record(1, { tags: ["vip"] }), record(2, { firstName: "B", lastName: "Lee" })]);
		// At 20 records a second nothing has landed when the request is answered.
		expect(await writesLog()).toEqual([]);
		await waitForImport(token, imp.id);
		const writes = await writesLog();
		const entry = (prospectId: number, field: string, value: unknown) => ({ at: expect.any(Number), prospectId, field, value, via: "import", importId: imp.id });
		expect(writes).toEqual([
			entry(3, "firstName", "C"),
			entry(3, "custom4", "Active"),
			entry(1, "tags", ["vip"]),
			entry(2, "firstName", "B"),
			entry(2, "lastName", "Lee"),
		]);
		expect(writes.every((w) => !("batchId" in w))).toBe(true);
		// A record's fields land together; the records one after another at the org's rate (3 at 20 a second).
		expect(writes[1]!.at).toBe(writes[0]!.at);
		expect(writes[4]!.at - writes[0]!.at).toBeGreaterThanOrEqual(60);
	});

	it("overwriteNoCreate never creates a prospect: an unknown id is a failed record, the others are applied", async () => {
		const imp = await createImport(token, [record(1, { firstName: "A" }), record(10_001, { firstName: "X" }), record(2, { firstName: "B" }), record(10_002, { firstName: "Y" })]);
		const done = await waitForImport(token, imp.id);
		expect(done.attributes).toMatchObject({ state: "finished", total: 4, failures: 2, dupes: 2 });
		expect(done.attributes.errorReason).toBe("2 of the import's 4 records have failed.");
		// `failureDetail: "counts"` (the default) says how many, not which.
		expect(done.attributes).not.toHaveProperty("failedRecords");
		expect(done.attributes.errorReason).not.toMatch(/1000[12]/);
		for (const id of [10_001, 10_002]) expect((await fetch(`${base}/__fake/prospects/${id}`)).status).toBe(404);
		expect(await peek("/__fake/prospects/2")).toMatchObject({ data: { attributes: { firstName: "B" } } });
		expect((await fakeStats()).imports).toEqual({ requests: 1, records: 2, created: 0, quota429: 0 });
		expect((await writesLog()).map((w) => w.prospectId)).toEqual([1, 2]);
	});

	it("dupeMethod overwrite creates an unknown prospect, and stats count it in imports.created", async () => {
		const imp = await createImport(token, [record(1, { firstName: "A" }), record(20_000, { firstName: "New" })], { dupeMethod: "overwrite" });
		const done = await waitForImport(token, imp.id);
		expect(done.attributes).toMatchObject({ dupeMethod: "overwrite", failures: 0, dupes: 1 });
		expect(await peek("/__fake/prospects/20000")).toMatchObject({ data: { attributes: { firstName: "New" } } });
		expect((await fakeStats()).imports).toEqual({ requests: 1, records: 2, created: 1, quota429: 0 });
	});

	it("judges each record exactly as a PATCH of that prospect: a bad record fails alone, with PATCH's reason", async () => {
		token = await importToken({ fieldRules: { custom4: { type: "inclusion", definition: ["Active", "Expired"] } }, imports: { recordsPerSecond: 2000, failureDetail: "records" } });
		const bad: [number, Record<string, unknown>][] = [
			[11, { custom151: "x" }],
			[12, { createdAt: "2026-01-01T00:00:00Z" }],
			[13, { emails: "a@example.com" }],
			[14, { firstName: "x".repeat(256) }],
			[15, { custom4: "Gone" }],
			[16, { firstName: 7, custom4: "Active" }],
		];
		const records = [record(1, { custom4: "Active" }), ...bad.map(([id, attributes]) => record(id, attributes)), record(2, { firstName: "Ann" })];
		const done = await waitForImport(token, (await createImport(token, records)).id);
		expect(done.attributes).toMatchObject({ total: 8, failures: 6, dupes: 2 });

		// The very details PATCH answers for the same attributes (nothing is written by a refused PATCH).
		const patchReasons: string[] = [];
		for (const [id, attributes] of bad) {
			const res = await patchProspect(token, id, attributes);
			expect(res.status).toBe(422);
			patchReasons.push((await errorsOf(res)).map((e) => e.detail).join(" "));
		}
		expect(done.attributes.failedRecords).toEqual(bad.map(([id], i) => ({ index: i + 1, id, reason: patchReasons[i] })));
		expect(patchReasons[4]).toBe("'custom4' must be one of: Active, Expired.");
		// Nothing of a failed record is written, not even its valid fields.
		expect(await peek("/__fake/prospects/16")).toEqual({ data: { type: "prospect", id: 16, attributes: {} } });
		expect((await writesLog()).map((w) => [w.prospectId, w.field])).toEqual([
			[1, "custom4"],
			[2, "firstName"],
		]);
	});

	it("a record needs type prospect and a prospect id, as a PATCH document does", async () => {
		token = await importToken({ imports: { recordsPerSecond: 2000, failureDetail: "records" } });
		const records = [{ id: 1, attributes: { firstName: "A" } }, record(2, { firstName: "B" }), { type: "account", id: 3, attributes: {} }, record("x", {}), { type: "prospect", attributes: {} }, record(0, {})];
		const done = await waitForImport(token, (await createImport(token, records)).id);
		expect(done.attributes.failedRecords).toEqual([
			{ index: 0, id: 1, reason: "'type' must be 'prospect' (got nothing)." },
			{ index: 2, id: 3, reason: "'type' must be 'prospect' (got \"account\")." },
			{ index: 3, id: "x", reason: "'id' must be a prospect id (got \"x\")." },
			{ index: 4, id: null, reason: "'id' must be a prospect id (got nothing)." },
			{ index: 5, id: 0, reason: "'id' must be a prospect id (got 0)." },
		]);
		expect((await writesLog()).map((w) => w.prospectId)).toEqual([2]);
	});

	it("answers 422 for a malformed body, an unsupported dupe method, and no records; creates nothing", async () => {
		const records = [record(1, { firstName: "A" })];
		const cases: [unknown, string, RegExp][] = [
			[{ data: { attributes: { records } } }, "/data/attributes/dupeMethod", /'dupeMethod' (is required|must be one of)/],
			[{ data: { attributes: { dupeMethod: "upsert", records } } }, "/data/attributes/dupeMethod", /must be one of overwriteNoCreate, overwrite, skip, missing/],
			[{ data: { attributes: { dupeMethod: "skip", records } } }, "/data/attributes/dupeMethod", /only the dupe methods overwriteNoCreate and overwrite \(got 'skip'\)/],
			[{ data: { attributes: { dupeMethod: "missing", records } } }, "/data/attributes/dupeMethod", /got 'missing'/],
			[{ data: { attributes: { dupeMethod: "overwriteNoCreate" } } }, "/data/attributes/records", /./],
			[{ data: { attributes: { dupeMethod: "overwriteNoCreate", records: [] } } }, "/data/attributes/records", /at least one record/],
			[{ data: { attributes: { dupeMethod: "overwriteNoCreate", records: record(1, {}) } } }, "/data/attributes/records", /array of resource objects/],
			[{ data: { attributes: { dupeMethod: "overwriteNoCreate", records: [record(1, {}), 7] } } }, "/data/attributes/records/1", /resource object/],
			[{ data: { attributes: { dupemethod: "overwriteNoCreate", dupeMethod: "overwriteNoCreate", records } } }, "/data/attributes", /Unrecognized key/],
			[{ records }, "/data", /./],
		];
		for (const [body, pointer, detail] of cases) {
			const res = await api(token, "POST", "/imports/actions/bulkUpsert", { body: JSON.stringify(body), contentType: JSON_API });
			const errors = await expectError(res, 422, "validationError");
			expect(errors.map((e) => e.source), JSON.stringify(body)).toContainEqual({ pointer });
			expect(errors.map((e) => e.detail).join(" "), JSON.stringify(body)).toMatch(detail);
		}
		await expectError(await api(token, "POST", "/imports/actions/bulkUpsert", { body: "{", contentType: JSON_API }), 422, "validationError");
		await sleep(50);
		expect(await writesLog()).toEqual([]);
		expect((await fakeStats()).imports).toEqual({ requests: 0, records: 0, created: 0, quota429: 0 });
		await expectError(await api(token, "GET", "/imports/1"), 404, "resourceNotFound");
	});

	it("answers 415 unless the body is sent as JSON:API", async () => {
		for (const contentType of ["application/json", "text/plain"]) {
			const [error] = await expectError(await bulkUpsert(token, [record(1, { firstName: "A" })], { contentType }), 415, "unsupportedMediaType");
			expect(error!.detail).toContain(JSON_API);
		}
		const none = await fetch(`${base}/api/v2/imports/actions/bulkUpsert`, { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: "{}" });
		await expectError(none, 415, "unsupportedMediaType");
		expect((await fakeStats()).imports.requests).toBe(0);
	});

	it("bulkUpsert needs imports.write and prospects.write: 403 unauthorizedOauthScope otherwise", async () => {
		const records = [record(1, { firstName: "A" })];
		const noImports = (await signIn({ scope: "prospects.read prospects.write users.read" })).access_token;
		const [error] = await expectError(await bulkUpsert(noImports, records), 403, "unauthorizedOauthScope");
		expect(error!.detail).toContain("imports.write");
		const readOnly = (await signIn({ scope: "prospects.write imports.read" })).access_token;
		await expectError(await bulkUpsert(readOnly, records), 403, "unauthorizedOauthScope");
		const noProspects = (await signIn({ scope: "prospects.read imports.read imports.write" })).access_token;
		const [missing] = await expectError(await bulkUpsert(noProspects, records), 403, "unauthorizedOauthScope");
		expect(missing!.detail).toContain("prospects.write");
		expect((await fakeStats()).imports.requests).toBe(0);
		const all = (await signIn({ scope: "prospects.all imports.all" })).access_token;
		expect((await bulkUpsert(all, records)).status).toBe(200);
	});

	it("reading an import needs imports.read, with prospects.write as Outreach asks of bulk clients", async () => {
		const imp = await createImport(token, [record(1, { firstName: "A" })]);
		const writer = (await signIn({ scope: "prospects.write imports.write" })).access_token;
		const [error] = await expectError(await api(writer, "GET", `/imports/${imp.id}`), 403, "unauthorizedOauthScope");
		expect(error!.detail).toContain("imports.read");
		const readerOnly = (await signIn({ scope: "prospects.read imports.read" })).access_token;
		const [resource] = await expectError(await api(readerOnly, "GET", `/imports/${imp.id}`), 403, "unauthorizedOauthScope");
		expect(resource!.detail).toContain("prospects.write");
		const reader = (await signIn({ scope: "prospects.write imports.read" })).access_token;
		expect((await api(reader, "GET", `/imports/${imp.id}`)).status).toBe(200);
	});

	it("answers 404 for an unknown import", async () => {
		for (const id of ["999", "abc", "0"]) {
			const [error] = await expectError(await api(token, "GET", `/imports/${id}`), 404, "resourceNotFound");
			expect(error!.detail).toBe(`Could not find 'import' with ID '${id}'.`);
		}
	});

	it("counts each bulkUpsert and each poll as 1 call against the user's window; over it, 429 as everywhere", async () => {
		token = await importToken({ rateLimit: { limit: 4, windowSeconds: 60 }, imports: { recordsPerSecond: 2000 } });
		const first = await bulkUpsert(token, [record(1, { firstName: "A" })]);
		expect(first.headers.get("X-RateLimit-Remaining")).toBe("3");
		const imp = ((await first.json()) as { data: ImportResource }).data;
		await getImport(token, imp.id);
		const poll = await api(token, "GET", `/imports/${imp.id}`);
		expect(poll.headers.get("X-RateLimit-Remaining")).toBe("1");
		expect((await fakeStats()).usage).toEqual([{ userId: 1, windowStart: expect.any(Number), count: 3 }]);
		// A refused upsert (422) is a call too.
		await expectError(await bulkUpsert(token, []), 422, "validationError");
		await expectError(await api(token, "GET", `/imports/${imp.id}`), 429, "rateLimitExceeded");
		const [limited] = await expectError(await bulkUpsert(token, [record(2, { firstName: "B" })]), 429, "rateLimitExceeded");
		expect(limited!.detail).toMatch(/^You have exceeded your permitted rate limit of 4; please try again at /);
		expect((await fakeStats()).usage[0]!.count).toBe(4);
		expect((await fakeStats()).requests).toMatchObject({
			"POST /api/v2/imports/actions/bulkUpsert": { "200": 1, "422": 1, "429": 1 },
			"GET /api/v2/imports/:id": { "200": 2, "429": 1 },
		});
		expect((await fakeStats()).imports.requests).toBe(1);
	});

	it("reset forgets running imports and stops applying them", async () => {
		token = await importToken({ imports: { recordsPerSecond: 20 } });
		await createImport(token, Array.from({ length: 40 }, (_, i) => record(i + 1, { custom4: "Active" })));
		await resetWhileApplying();
		expect((await fakeStats()).imports).toEqual({ requests: 0, records: 0, created: 0, quota429: 0 });
		token = (await signIn({ scope: IMPORT_SCOPES })).access_token;
		await expectError(await api(token, "GET", "/imports/1"), 404, "resourceNotFound");
	});
});
