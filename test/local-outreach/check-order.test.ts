import { beforeEach, describe, expect, it } from "vitest";
import { api, BULK_SCOPES, expectError, JSON_API, patchProspect, reset, setFaults, signIn, sleep } from "./helpers.ts";

// Outreach checks a PATCH in this order: 401 → 429 → 415 → 403 scope → 404 → 422. Each case breaks two rules
// at once and expects the earlier one to win.

const everythingWrong = { custom151: "x", firstName: 1 };

describe("local Outreach: the order of the checks", () => {
	beforeEach(() => reset());

	it("401 before everything: no token, expired token, revoked token", async () => {
		await expectError(await patchProspect(null, 10_001, everythingWrong, { contentType: "text/plain" }), 401, "unauthorized");

		await reset({ accessTokenTtlSeconds: 1 });
		const expiring = await signIn({ scope: "users.read" });
		await sleep(1100);
		await expectError(await patchProspect(expiring.access_token, 1, { firstName: "A" }, { contentType: "text/plain" }), 401, "unauthorized");

		const revoked = await signIn({ scope: "users.read" });
		await setFaults({ revokeAllTokens: true });
		await expectError(await patchProspect(revoked.access_token, 10_001, everythingWrong), 401, "unauthorized");
	});

	it("429 before 415, 403, 404 and 422", async () => {
		await reset({ rateLimit: { limit: 1, windowSeconds: 60 } });
		const { access_token } = await signIn({ scope: "users.read" });
		await setFaults({ spendBudget: { userId: 1, calls: 1 } });
		await expectError(await patchProspect(access_token, 10_001, everythingWrong, { contentType: "text/plain" }), 429, "rateLimitExceeded");
		await expectError(await patchProspect(access_token, 10_001, everythingWrong), 429, "rateLimitExceeded");
	});

	it("an injected fault comes after 401 and 429, before 415", async () => {
		const { access_token } = await signIn();
		await setFaults({ status: 503, count: 1 });
		await expectError(await patchProspect(null, 1, {}), 401, "unauthorized"); // not the fault's turn yet
		await expectError(await patchProspect(access_token, 1, {}, { contentType: "text/plain" }), 503, "scheduledServerMaintenance");
		await expectError(await patchProspect(access_token, 1, {}, { contentType: "text/plain" }), 415, "unsupportedMediaType");
	});

	it("415 before 403 scope", async () => {
		const { access_token } = await signIn({ scope: "users.read" });
		await expectError(await patchProspect(access_token, 10_001, everythingWrong, { contentType: "application/json" }), 415, "unsupportedMediaType");
	});

	it("403 scope before 404 (a missing scope on an unknown prospect)", async () => {
		const { access_token } = await signIn({ scope: "prospects.read" });
		await expectError(await patchProspect(access_token, 10_001, everythingWrong), 403, "unauthorizedOauthScope");
		const writer = await signIn({ scope: "prospects.write" });
		await expectError(await api(writer.access_token, "GET", "/prospects/10001"), 403, "unauthorizedOauthScope");
	});

	it("404 before 422 and before a malformed body", async () => {
		const { access_token } = await signIn();
		await expectError(await patchProspect(access_token, 10_001, everythingWrong, { type: "account", id: 5 }), 404, "resourceNotFound");
		const malformed = await api(access_token, "PATCH", "/prospects/10001", { body: "{", contentType: JSON_API });
		await expectError(malformed, 404, "resourceNotFound");
	});

	it("422 last", async () => {
		const { access_token } = await signIn();
		const errors = await expectError(await patchProspect(access_token, 1, everythingWrong), 422, "validationError");
		expect(errors.map((e) => e.source?.pointer)).toEqual(["/data/attributes/custom151", "/data/attributes/firstName"]);
	});

	describe("the bulk routes, in the same order", () => {
		// Missing scope, a body that is not JSON, and too many ids at once.
		const wrongBody = "{";
		const bulk = (token: string | null, contentType = JSON_API) =>
			api(token, "POST", "/batches/actions/prospectsBulkModify", { body: wrongBody, contentType });

		it("401 → 429 → injected fault → 415 → 403 → 422", async () => {
			await reset({ rateLimit: { limit: 3, windowSeconds: 60 } });
			const noScope = (await signIn({ scope: "users.read" })).access_token;
			await expectError(await bulk(null, "text/plain"), 401, "unauthorized");
			await setFaults({ status: 503, count: 1 });
			await expectError(await bulk(noScope, "text/plain"), 503, "scheduledServerMaintenance");
			await expectError(await bulk(noScope, "text/plain"), 415, "unsupportedMediaType");
			await expectError(await bulk(noScope), 403, "unauthorizedOauthScope");
			await expectError(await bulk(noScope), 429, "rateLimitExceeded");

			await reset();
			const bulkScopes = (await signIn({ scope: BULK_SCOPES })).access_token;
			await expectError(await bulk(bulkScopes), 422, "validationError");
		});

		it("403 before 404 on a batch, and before 400 on batchItems", async () => {
			const reader = (await signIn({ scope: "users.read" })).access_token;
			await expectError(await api(reader, "GET", "/batches/999"), 403, "unauthorizedOauthScope");
			await expectError(await api(reader, "POST", "/batches/999/actions/cancel", { contentType: JSON_API }), 403, "unauthorizedOauthScope");
			await expectError(await api(reader, "GET", "/batchItems?page[size]=5000"), 403, "unauthorizedOauthScope");
			const bulkScopes = (await signIn({ scope: BULK_SCOPES })).access_token;
			await expectError(await api(bulkScopes, "POST", "/batches/999/actions/cancel"), 415, "unsupportedMediaType");
			await expectError(await api(bulkScopes, "POST", "/batches/999/actions/cancel", { contentType: JSON_API }), 404, "resourceNotFound");
		});
	});
});
