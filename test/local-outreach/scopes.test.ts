import { beforeEach, describe, expect, it } from "vitest";
import { api, expectError, patchProspect, reset, signIn } from "./helpers.ts";

describe("local Outreach: users/me, types and OAuth scopes", () => {
	beforeEach(() => reset());

	it("GET /users/me answers the signed-in user", async () => {
		const { access_token } = await signIn();
		const res = await api(access_token, "GET", "/users/me");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({
			data: { type: "user", id: 1, attributes: { email: "rep@example.com", firstName: "Rep", lastName: "Example", name: "Rep Example" } },
		});
	});

	it("GET /users/me answers whoever signed in", async () => {
		await reset({
			users: [
				{ id: 1, email: "rep@example.com", password: "outreach" },
				{ id: 2, email: "ann@example.com", password: "pw", firstName: "Ann", lastName: "Lee" },
			],
		});
		const { access_token } = await signIn({ email: "ann@example.com", password: "pw" });
		expect(await (await api(access_token, "GET", "/users/me")).json()).toMatchObject({ data: { id: 2, attributes: { email: "ann@example.com", firstName: "Ann" } } });
	});

	it("GET /users/me needs users.read", async () => {
		const { access_token } = await signIn({ scope: "prospects.read prospects.write" });
		const errors = await expectError(await api(access_token, "GET", "/users/me"), 403, "unauthorizedOauthScope");
		expect(errors[0]!.detail).toContain("users.read");
	});

	it("PATCH needs prospects.write (or prospects.all): 403 unauthorizedOauthScope", async () => {
		const { access_token } = await signIn({ scope: "prospects.read users.read" });
		const errors = await expectError(await patchProspect(access_token, 1, { firstName: "A" }), 403, "unauthorizedOauthScope");
		expect(errors[0]!.detail).toContain("prospects.write");
	});

	it("scopes are not additive: prospects.write grants no read", async () => {
		const { access_token } = await signIn({ scope: "prospects.write" });
		expect((await patchProspect(access_token, 1, { firstName: "A" })).status).toBe(200);
		await expectError(await api(access_token, "GET", "/prospects/1"), 403, "unauthorizedOauthScope");
	});

	it("prospects.all grants both read and write", async () => {
		const { access_token } = await signIn({ scope: "prospects.all" });
		expect((await patchProspect(access_token, 1, { firstName: "A" })).status).toBe(200);
		expect((await api(access_token, "GET", "/prospects/1")).status).toBe(200);
	});

	it("GET /types lists the field rules as JSON:API resources", async () => {
		await reset({
			fieldRules: {
				custom12: { type: "number", definition: { min: 0 } },
				custom4: { type: "inclusion", definition: ["Active", "Expired"] },
			},
		});
		const { access_token } = await signIn();
		const res = await api(access_token, "GET", "/types");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({
			data: [
				{ type: "type", id: "custom4", attributes: { name: "custom4", resource: "prospect", validation: { type: "inclusion", definition: ["Active", "Expired"] } } },
				{ type: "type", id: "custom12", attributes: { name: "custom12", resource: "prospect", validation: { type: "number", definition: { min: 0 } } } },
			],
			meta: { count: 2 },
		});
	});

	it("GET /types is empty without field rules", async () => {
		const { access_token } = await signIn({ scope: "prospects.write" });
		expect(await (await api(access_token, "GET", "/types")).json()).toEqual({ data: [], meta: { count: 0 } });
	});
});
