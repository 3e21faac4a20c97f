import { beforeEach, describe, expect, it } from "vitest";
import {
	ALL_SCOPES,
	api,
	base,
	BULK_SCOPES,
	CLIENT_ID,
	exchangeCode,
	REDIRECT_URI,
	refreshTokens,
	reset,
	signIn,
	signInCode,
	submitSignIn,
	tokenRequest,
	type TokenSet,
} from "./helpers.ts";

const authorizeUrl = (params: Record<string, string>) =>
	`${base}/oauth/authorize?${new URLSearchParams({ client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, response_type: "code", scope: ALL_SCOPES, state: "abc", ...params })}`;

describe("local Outreach: OAuth sign-in", () => {
	beforeEach(() => reset());

	it("shows a sign-in form carrying the request through", async () => {
		const res = await fetch(authorizeUrl({ state: "s<1>" }));
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toContain("text/html");
		const page = await res.text();
		expect(page).toContain('<form method="post" action="/oauth/authorize">');
		expect(page).toContain('name="email"');
		expect(page).toContain('name="password"');
		expect(page).toContain('value="approve"');
		expect(page).toContain('value="decline"');
		expect(page).toContain(`value="${REDIRECT_URI}"`);
		expect(page).toContain('value="s&lt;1&gt;"'); // escaped, not injected
	});

	it("answers an unknown client_id with an error page", async () => {
		const res = await fetch(authorizeUrl({ client_id: "someone-else" }));
		expect(res.status).toBe(400);
		expect(await res.text()).toContain("Unknown application");
	});

	it("never redirects to a redirect_uri that is not http(s) or not registered", async () => {
		for (const redirect_uri of ["javascript:alert(1)", "not a url", ""]) {
			expect((await fetch(authorizeUrl({ redirect_uri }))).status).toBe(400);
			expect((await submitSignIn({ redirectUri: redirect_uri })).status).toBe(400);
		}
		await reset({ clients: [{ clientId: CLIENT_ID, clientSecret: "local-secret", redirectUris: [REDIRECT_URI] }] });
		expect((await fetch(authorizeUrl({ redirect_uri: "https://evil.example/cb" }))).status).toBe(400);
		expect((await fetch(authorizeUrl({}))).status).toBe(200);
	});

	it("redirects with error=unsupported_response_type unless response_type is code", async () => {
		const res = await fetch(authorizeUrl({ response_type: "token" }), { redirect: "manual" });
		expect(res.status).toBe(302);
		expect(new URL(res.headers.get("Location")!).searchParams.get("error")).toBe("unsupported_response_type");
	});

	it("redirects to redirect_uri with a code and the state after a good sign-in", async () => {
		const res = await submitSignIn({ state: "xyz 1" });
		expect(res.status).toBe(302);
		const location = new URL(res.headers.get("Location")!);
		expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
		expect(location.searchParams.get("code")).toMatch(/^[\w-]{24,}$/);
		expect(location.searchParams.get("state")).toBe("xyz 1");
	});

	it("redirects with error=access_denied when the user declines", async () => {
		const res = await submitSignIn({ decision: "decline", password: "" });
		expect(res.status).toBe(302);
		const location = new URL(res.headers.get("Location")!);
		expect(location.searchParams.get("error")).toBe("access_denied");
		expect(location.searchParams.get("state")).toBe("st4te");
		expect(location.searchParams.has("code")).toBe(false);
	});

	it("shows the form again with an error for a wrong password", async () => {
		const res = await submitSignIn({ password: "wrong" });
		expect(res.status).toBe(401);
		const page = await res.text();
		expect(page).toContain("Wrong email or password.");
		expect(page).toContain("<form");
	});

	it("signs in users given to reset", async () => {
		await reset({ users: [{ id: 7, email: "ann@example.com", password: "pw" }] });
		expect((await submitSignIn()).status).toBe(401);
		await signInCode({ email: "ann@example.com", password: "pw" });
	});
});

describe("local Outreach: the token endpoint", () => {
	beforeEach(() => reset());

	it("exchanges a code for an access token and a refresh token", async () => {
		const res = await exchangeCode(await signInCode());
		expect(res.status).toBe(200);
		const tokens = (await res.json()) as TokenSet;
		expect(tokens).toEqual({
			access_token: expect.stringMatching(/^[\w-]{40,}$/),
			token_type: "bearer",
			expires_in: 7200,
			refresh_token: expect.stringMatching(/^[\w-]{40,}$/),
			scope: ALL_SCOPES,
			created_at: expect.any(Number),
		});
		expect(Math.abs(tokens.created_at - Date.now() / 1000)).toBeLessThan(5);
		expect(tokens.refresh_token).not.toBe(tokens.access_token);
	});

	it("grants the requested scope", async () => {
		expect((await signIn({ scope: "prospects.read" })).scope).toBe("prospects.read");
	});

	it("grants the bulk API's batches.read batches.write when asked, through the form and across a refresh", async () => {
		const page = await (await fetch(authorizeUrl({ scope: BULK_SCOPES }))).text();
		expect(page).toContain(`name="scope" value="${BULK_SCOPES}"`);
		expect(page).toContain("batches.read, batches.write");
		const tokens = await signIn({ scope: BULK_SCOPES });
		expect(tokens.scope).toBe(BULK_SCOPES);
		const refreshed = (await (await refreshTokens(tokens.refresh_token)).json()) as TokenSet;
		expect(refreshed.scope).toBe(BULK_SCOPES);
		// The granted scopes are the ones the bulk routes check.
		expect((await api(refreshed.access_token, "GET", "/batches/1")).status).toBe(404);
		expect((await api((await signIn()).access_token, "GET", "/batches/1")).status).toBe(403);
	});

	it("accepts a code only once", async () => {
		const code = await signInCode();
		expect((await exchangeCode(code)).status).toBe(200);
		const again = await exchangeCode(code);
		expect(again.status).toBe(400);
		expect(await again.json()).toMatchObject({ error: "invalid_grant" });
	});

	it("binds a code to its redirect_uri", async () => {
		const code = await signInCode();
		const wrong = await exchangeCode(code, { redirect_uri: "http://localhost:8787/elsewhere" });
		expect(wrong.status).toBe(400);
		expect(await wrong.json()).toEqual({ error: "invalid_grant", error_description: expect.stringContaining("redirect_uri") });
		expect((await exchangeCode(code)).status).toBe(200);
	});

	it("binds a code to its client", async () => {
		await reset({ clients: [{ clientId: "local-client", clientSecret: "local-secret" }, { clientId: "other", clientSecret: "other-secret" }] });
		const code = await signInCode();
		const res = await exchangeCode(code, { client_id: "other", client_secret: "other-secret" });
		expect(res.status).toBe(400);
		expect(await res.json()).toMatchObject({ error: "invalid_grant" });
	});

	it("rejects an unknown code as invalid_grant", async () => {
		const res = await exchangeCode("not-a-code");
		expect(res.status).toBe(400);
		expect(await res.json()).toMatchObject({ error: "invalid_grant" });
	});

	it("answers 401 invalid_client to wrong client credentials, for either grant", async () => {
		const code = await signInCode();
		for (const res of [
			await exchangeCode(code, { client_secret: "nope" }),
			await exchangeCode(code, { client_id: "stranger" }),
			await refreshTokens("whatever", { client_secret: "nope" }),
		]) {
			expect(res.status).toBe(401);
			expect(await res.json()).toMatchObject({ error: "invalid_client" });
		}
		expect((await exchangeCode(code)).status).toBe(200); // the failed attempts did not spend the code
	});

	it("accepts client credentials by HTTP Basic and a JSON body", async () => {
		const code = await signInCode();
		const res = await fetch(`${base}/oauth/token`, {
			method: "POST",
			headers: { "Content-Type": "application/json", Authorization: `Basic ${btoa("local-client:local-secret")}` },
			body: JSON.stringify({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI }),
		});
		expect(res.status).toBe(200);
	});

	it("rotates refresh tokens: each refresh gives a new one and the used one is refused", async () => {
		const first = await signIn();
		const res = await refreshTokens(first.refresh_token, { redirect_uri: REDIRECT_URI });
		expect(res.status).toBe(200);
		const second = (await res.json()) as TokenSet;
		expect(second.refresh_token).not.toBe(first.refresh_token);
		expect(second.access_token).not.toBe(first.access_token);
		expect(second.scope).toBe(first.scope);

		const reused = await refreshTokens(first.refresh_token);
		expect(reused.status).toBe(400);
		expect(await reused.json()).toEqual({ error: "invalid_grant", error_description: "The refresh token is used." });
		expect((await refreshTokens(second.refresh_token)).status).toBe(200);
	});

	it("refuses an access token offered as a refresh token", async () => {
		const tokens = await signIn();
		const res = await refreshTokens(tokens.access_token);
		expect(res.status).toBe(400);
		expect(await res.json()).toMatchObject({ error: "invalid_grant" });
	});

	it("answers unsupported_grant_type and invalid_request", async () => {
		const password = await tokenRequest({ grant_type: "password" });
		expect(password.status).toBe(400);
		expect(await password.json()).toMatchObject({ error: "unsupported_grant_type" });
		const noCode = await tokenRequest({ grant_type: "authorization_code", redirect_uri: REDIRECT_URI });
		expect(noCode.status).toBe(400);
		expect(await noCode.json()).toMatchObject({ error: "invalid_request" });
	});
});
