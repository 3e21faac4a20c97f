import { beforeEach, describe, expect, it } from "vitest";
import { api, errorsOf, expectError, JSON_API, patchProspect, peek, reset, signIn } from "./helpers.ts";

let token: string;

describe("local Outreach: reading and updating prospects", () => {
	beforeEach(async () => {
		await reset();
		token = (await signIn()).access_token;
	});

	it("has prospects 1–10000 without attributes after a reset", async () => {
		for (const id of [1, 4211, 10000]) {
			const res = await api(token, "GET", `/prospects/${id}`);
			expect(res.status).toBe(200);
			expect(res.headers.get("Content-Type")).toBe(JSON_API);
			expect(await res.json()).toMatchObject({ data: { type: "prospect", id, attributes: {} } });
		}
		await expectError(await api(token, "GET", "/prospects/10001"), 404, "resourceNotFound");
	});

	it("PATCH changes only the attributes present and answers the whole prospect", async () => {
		expect((await patchProspect(token, 42, { firstName: "Ann", custom4: "Active" })).status).toBe(200);
		const res = await patchProspect(token, 42, { custom4: "Expired", tags: ["vip"], custom9: null });
		expect(res.status).toBe(200);
		const expected = { firstName: "Ann", custom4: "Expired", tags: ["vip"], custom9: null };
		expect(await res.json()).toMatchObject({ data: { type: "prospect", id: 42, attributes: expected } });
		expect(await (await api(token, "GET", "/prospects/42")).json()).toMatchObject({ data: { attributes: expected } });
		expect(await peek("/__fake/prospects/42")).toEqual({ data: { type: "prospect", id: 42, attributes: expected } });
	});

	it("takes the body's id as a number or a numeric string", async () => {
		expect((await patchProspect(token, 7, { lastName: "Lee" }, { id: "7" })).status).toBe(200);
		expect((await patchProspect(token, 7, { lastName: "Lee" }, { id: 7 })).status).toBe(200);
	});

	it("answers 404 resourceNotFound for an unknown or non-numeric prospect", async () => {
		const errors = await expectError(await patchProspect(token, 10_001, { firstName: "X" }), 404, "resourceNotFound");
		expect(errors[0]!.detail).toBe("Could not find 'prospect' with ID '10001'.");
		await expectError(await api(token, "GET", "/prospects/abc"), 404, "resourceNotFound");
		await expectError(await api(token, "GET", "/prospects/0"), 404, "resourceNotFound");
	});

	it("answers 415 unsupportedMediaType to a PATCH that is not application/vnd.api+json", async () => {
		for (const contentType of ["application/json", "text/plain"]) {
			await expectError(await patchProspect(token, 1, { firstName: "A" }, { contentType }), 415, "unsupportedMediaType");
		}
		const none = await api(token, "PATCH", "/prospects/1", { body: "{}" });
		await expectError(none, 415, "unsupportedMediaType");
		expect((await patchProspect(token, 1, { firstName: "A" }, { contentType: `${JSON_API}; charset=utf-8` })).status).toBe(200);
	});

	it("does not ask a GET for a content type", async () => {
		expect((await api(token, "GET", "/prospects/1", { contentType: "text/plain" })).status).toBe(200);
	});

	it("answers 400 to a body that is not JSON or not a JSON:API document", async () => {
		const bad = await api(token, "PATCH", "/prospects/1", { body: "{nope", contentType: JSON_API });
		await expectError(bad, 400, "badRequest");
		const noData = await api(token, "PATCH", "/prospects/1", { body: JSON.stringify({ firstName: "A" }), contentType: JSON_API });
		const errors = await expectError(noData, 400, "badRequest");
		expect(errors[0]!.source).toEqual({ pointer: "/data" });
		const listAttrs = await api(token, "PATCH", "/prospects/1", {
			body: JSON.stringify({ data: { type: "prospect", id: 1, attributes: ["firstName"] } }),
			contentType: JSON_API,
		});
		expect((await expectError(listAttrs, 400, "badRequest"))[0]!.source).toEqual({ pointer: "/data/attributes" });
	});

	it("answers unknown /api/v2 routes with a JSON:API 404", async () => {
		await expectError(await api(token, "GET", "/sequences"), 404, "resourceNotFound");
	});
});

describe("local Outreach: 422 validationError, each with its pointer", () => {
	beforeEach(async () => {
		await reset({
			fieldRules: {
				custom4: { type: "inclusion", definition: ["Active", "Expired"] },
				custom5: { type: "number", definition: { min: 0, max: 100, integer: true } },
				custom6: { type: "date" },
				custom7: { type: "url" },
				custom8: { type: "format", definition: "[A-Z]{3}-\\d+" },
			},
		});
		token = (await signIn()).access_token;
	});

	async function pointerOf(attributes: Record<string, unknown>, doc: { type?: unknown; id?: unknown } = {}) {
		const res = await patchProspect(token, 1, attributes, doc);
		const errors = await expectError(res, 422, "validationError");
		expect(errors).toHaveLength(1);
		expect(errors[0]!.title).toBe("Validation Error");
		return errors[0]!.source?.pointer;
	}

	it("an unknown attribute such as custom151", async () => {
		expect(await pointerOf({ custom151: "x" })).toBe("/data/attributes/custom151");
		expect(await pointerOf({ favouriteColour: "x" })).toBe("/data/attributes/favouriteColour");
	});

	it("a read-only attribute", async () => {
		expect(await pointerOf({ createdAt: "2024-01-01T00:00:00Z" })).toBe("/data/attributes/createdAt");
		expect(await pointerOf({ engagedScore: 3 })).toBe("/data/attributes/engagedScore");
	});

	it("a value of the wrong type", async () => {
		expect(await pointerOf({ firstName: 42 })).toBe("/data/attributes/firstName");
		expect(await pointerOf({ emails: "a@example.com" })).toBe("/data/attributes/emails");
		expect(await pointerOf({ tags: [1] })).toBe("/data/attributes/tags");
		expect(await pointerOf({ dateOfBirth: "1 May 1990" })).toBe("/data/attributes/dateOfBirth");
	});

	it("an over-long value (firstName longer than 255)", async () => {
		expect((await patchProspect(token, 1, { firstName: "a".repeat(255) })).status).toBe(200);
		expect(await pointerOf({ firstName: "a".repeat(256) })).toBe("/data/attributes/firstName");
		expect(await pointerOf({ custom1: "a".repeat(32_001) })).toBe("/data/attributes/custom1");
	});

	it("a value outside a picklist field rule", async () => {
		expect((await patchProspect(token, 1, { custom4: "Active" })).status).toBe(200);
		expect(await pointerOf({ custom4: "realized" })).toBe("/data/attributes/custom4");
		expect((await patchProspect(token, 1, { custom4: null })).status).toBe(200); // clearing is always allowed
	});

	it("a value outside a number, date, url or format field rule", async () => {
		expect((await patchProspect(token, 1, { custom5: "42", custom6: "2024-02-29", custom7: "https://x.example/a", custom8: "ABC-12" })).status).toBe(200);
		expect(await pointerOf({ custom5: "101" })).toBe("/data/attributes/custom5");
		expect(await pointerOf({ custom5: "4.5" })).toBe("/data/attributes/custom5");
		expect(await pointerOf({ custom5: "lots" })).toBe("/data/attributes/custom5");
		expect(await pointerOf({ custom6: "2023-02-29" })).toBe("/data/attributes/custom6");
		expect(await pointerOf({ custom7: "ftp://x.example" })).toBe("/data/attributes/custom7");
		expect(await pointerOf({ custom8: "xABC-12" })).toBe("/data/attributes/custom8");
	});

	it("a type or id that does not match the URL", async () => {
		expect(await pointerOf({ firstName: "A" }, { type: "account" })).toBe("/data/type");
		expect(await pointerOf({ firstName: "A" }, { type: undefined })).toBe("/data/type");
		expect(await pointerOf({ firstName: "A" }, { id: 2 })).toBe("/data/id");
		expect(await pointerOf({ firstName: "A" }, { id: "one" })).toBe("/data/id");
		expect(await pointerOf({ firstName: "A" }, { id: undefined })).toBe("/data/id");
	});

	it("lists every problem at once and changes nothing", async () => {
		const res = await patchProspect(token, 1, { firstName: "Ann", custom151: "x", custom4: "nope" }, { id: 9 });
		expect(res.status).toBe(422);
		const pointers = (await errorsOf(res)).map((e) => e.source?.pointer);
		expect(pointers).toEqual(["/data/id", "/data/attributes/custom151", "/data/attributes/custom4"]);
		expect(await peek("/__fake/prospects/1")).toEqual({ data: { type: "prospect", id: 1, attributes: {} } });
	});
});
