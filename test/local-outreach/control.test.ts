import { beforeEach, describe, expect, it } from "vitest";
import { api, base, fakeStats, patchProspect, peek, reset, signIn, submitSignIn, type TokenSet } from "./helpers.ts";

type LoggedRequest = { at: number; userId: number | null; method: string; path: string; status: number };

describe("local Outreach: control routes", () => {
	beforeEach(() => reset());

	it("/__fake/stats counts requests per route and status, 429s, usage and token grants", async () => {
		await reset({ rateLimit: { limit: 4, windowSeconds: 60 } });
		const tokens = await signIn();
		await fetch(`${base}/oauth/token`, {
			method: "POST",
			body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: "local-client", client_secret: "local-secret" }),
		});
		await patchProspect(tokens.access_token, 1, { firstName: "A" });
		await patchProspect(tokens.access_token, 2, { firstName: "B" });
		await patchProspect(tokens.access_token, 3, { custom151: "C" });
		await api(tokens.access_token, "GET", "/users/me");
		await api(tokens.access_token, "GET", "/users/me");
		await api(null, "GET", "/prospects/5");

		expect(await fakeStats()).toEqual({
			requests: {
				"PATCH /api/v2/prospects/:id": { "200": 2, "422": 1 },
				"GET /api/v2/users/me": { "200": 1, "429": 1 },
				"GET /api/v2/prospects/:id": { "401": 1 },
			},
			status429: 1,
			usage: [{ userId: 1, windowStart: expect.any(Number), count: 4 }],
			tokenGrants: { authorization_code: 1, refresh_token: 1 },
			bulk: { requests: 0, items: 0, unfilteredRequests: 0, quota429: 0 },
			imports: { requests: 0, records: 0, created: 0, quota429: 0 },
		});
	});

	it("/__fake/requests logs every API request in order", async () => {
		const started = Date.now();
		const { access_token } = await signIn();
		await patchProspect(access_token, 12, { firstName: "A" });
		await api(null, "GET", "/users/me");
		await peek("/__fake/stats"); // not an API request
		const { requests } = await peek<{ requests: LoggedRequest[] }>("/__fake/requests");
		expect(requests).toEqual([
			{ at: expect.any(Number), userId: 1, method: "PATCH", path: "/api/v2/prospects/12", status: 200 },
			{ at: expect.any(Number), userId: null, method: "GET", path: "/api/v2/users/me", status: 401 },
		]);
		expect(requests[0]!.at).toBeGreaterThanOrEqual(started - 1000);
		expect(requests[1]!.at).toBeGreaterThanOrEqual(requests[0]!.at);
		const later = await peek<{ requests: LoggedRequest[] }>(`/__fake/requests?since=${requests[1]!.at + 1}`);
		expect(later.requests).toEqual([]);
	});

	it("/__fake/tokens lists access and refresh tokens with user and state", async () => {
		const tokens: TokenSet = await signIn();
		expect(await peek("/__fake/tokens")).toEqual({
			tokens: [
				{ type: "access", value: tokens.access_token, userId: 1, state: "active" },
				{ type: "refresh", value: tokens.refresh_token, userId: 1, state: "active" },
			],
		});
	});

	it("/__fake/prospects/:id shows PATCHed values, bypassing auth and limits, uncounted", async () => {
		await reset({ rateLimit: { limit: 1, windowSeconds: 60 } });
		const { access_token } = await signIn();
		expect((await patchProspect(access_token, 77, { custom4: "Active", emails: ["a@example.com"] })).status).toBe(200);
		for (let i = 0; i < 3; i++) {
			expect(await peek("/__fake/prospects/77")).toEqual({
				data: { type: "prospect", id: 77, attributes: { custom4: "Active", emails: ["a@example.com"] } },
			});
		}
		expect((await fakeStats()).usage[0]!.count).toBe(1);
		const missing = await fetch(`${base}/__fake/prospects/10001`);
		expect(missing.status).toBe(404);
		expect(await missing.json()).toMatchObject({ errors: [{ id: "resourceNotFound" }] });
	});

	it("reset with custom prospects replaces the default 1–10000", async () => {
		await reset({ prospects: [{ id: 4211, attributes: { firstName: "Ann", custom4: "Active" } }, 20_000] });
		expect(await peek("/__fake/prospects/4211")).toEqual({
			data: { type: "prospect", id: 4211, attributes: { firstName: "Ann", custom4: "Active" } },
		});
		expect(await peek("/__fake/prospects/20000")).toEqual({ data: { type: "prospect", id: 20000, attributes: {} } });
		expect((await fetch(`${base}/__fake/prospects/1`)).status).toBe(404);
		const { access_token } = await signIn();
		expect((await api(access_token, "GET", "/prospects/1")).status).toBe(404);
		expect((await patchProspect(access_token, 4211, { lastName: "Lee" })).status).toBe(200);
		expect(await peek("/__fake/prospects/4211")).toMatchObject({ data: { attributes: { firstName: "Ann", custom4: "Active", lastName: "Lee" } } });
	});

	it("reset clears tokens, usage, log, prospects' values and faults", async () => {
		const { access_token } = await signIn();
		await patchProspect(access_token, 5, { firstName: "A" });
		await fetch(`${base}/__fake/faults`, { method: "POST", body: JSON.stringify({ status: 503, count: 10 }) });
		await reset();
		expect(await peek("/__fake/tokens")).toEqual({ tokens: [] });
		expect(await peek("/__fake/requests")).toEqual({ requests: [] });
		expect(await peek("/__fake/stats")).toEqual({
			requests: {},
			status429: 0,
			usage: [],
			tokenGrants: { authorization_code: 0, refresh_token: 0 },
			bulk: { requests: 0, items: 0, unfilteredRequests: 0, quota429: 0 },
			imports: { requests: 0, records: 0, created: 0, quota429: 0 },
		});
		expect(await peek("/__fake/prospects/5")).toEqual({ data: { type: "prospect", id: 5, attributes: {} } });
		expect((await api(access_token, "GET", "/users/me")).status).toBe(401);
		expect((await api((await signIn()).access_token, "GET", "/users/me")).status).toBe(200); // no fault left
	});

	it("reset takes clients, and an empty reset restores the defaults", async () => {
		await reset({ clients: [{ clientId: "acme", clientSecret: "s3cret" }] });
		expect((await fetch(`${base}/oauth/authorize?client_id=local-client&redirect_uri=http://x.example/cb&response_type=code`)).status).toBe(400);
		expect((await submitSignIn({ clientId: "acme" })).status).toBe(302);
		await reset();
		expect((await submitSignIn()).status).toBe(302);
	});

	it("refuses a malformed reset body with every problem", async () => {
		const res = await fetch(`${base}/__fake/reset`, {
			method: "POST",
			body: JSON.stringify({ rateLimit: { limit: 0 }, fieldRules: { custom151: { type: "inclusion", definition: ["A"] }, custom4: { type: "nope" } } }),
		});
		expect(res.status).toBe(400);
		const body = (await res.json()) as { ok: boolean; problems: { path: string; message: string }[] };
		expect(body.ok).toBe(false);
		expect(body.problems.map((p) => p.path)).toEqual(
			expect.arrayContaining(["rateLimit.limit", "rateLimit.windowSeconds", "fieldRules.custom151", "fieldRules.custom4.type"]),
		);
		const notJson = await fetch(`${base}/__fake/reset`, { method: "POST", body: "{" });
		expect(notJson.status).toBe(400);
	});

	it("answers unknown routes with a JSON:API 404", async () => {
		const res = await fetch(`${base}/nothing/here`);
		expect(res.status).toBe(404);
		expect(await res.json()).toMatchObject({ errors: [{ id: "resourceNotFound" }] });
	});
});
