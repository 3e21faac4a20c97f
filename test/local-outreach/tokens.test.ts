import { beforeEach, describe, expect, it } from "vitest";
import { api, expectError, peek, refreshTokens, reset, setFaults, signIn, sleep, type TokenSet } from "./helpers.ts";

type TokenRow = { type: "access" | "refresh"; value: string; userId: number; state: string };

describe("local Outreach: token lifetimes", () => {
	beforeEach(() => reset());

	it("answers 401 without a token, and with an unknown one", async () => {
		const none = await expectError(await api(null, "GET", "/users/me"), 401, "unauthorized");
		expect(none[0]!.detail).toMatch(/No access token/);
		const unknown = await api("nope", "GET", "/users/me");
		expect(unknown.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
		await expectError(unknown, 401, "unauthorized");
	});

	it("expires access tokens after accessTokenTtlSeconds; a refresh gives a working one", async () => {
		await reset({ accessTokenTtlSeconds: 1 });
		const tokens = await signIn();
		expect(tokens.expires_in).toBe(1);
		expect((await api(tokens.access_token, "GET", "/users/me")).status).toBe(200);
		await sleep(1100);
		const expired = await expectError(await api(tokens.access_token, "GET", "/users/me"), 401, "unauthorized");
		expect(expired[0]!.detail).toBe("The access token is expired.");

		const res = await refreshTokens(tokens.refresh_token);
		expect(res.status).toBe(200);
		const fresh = (await res.json()) as TokenSet;
		expect((await api(fresh.access_token, "GET", "/users/me")).status).toBe(200);
	});

	it("revokeAllTokens makes every access token 401 and every refresh token invalid_grant", async () => {
		const a = await signIn();
		const b = await signIn();
		await setFaults({ revokeAllTokens: true });
		for (const t of [a, b]) {
			const errors = await expectError(await api(t.access_token, "GET", "/users/me"), 401, "unauthorized");
			expect(errors[0]!.detail).toBe("The access token is revoked.");
			const refresh = await refreshTokens(t.refresh_token);
			expect(refresh.status).toBe(400);
			expect(await refresh.json()).toMatchObject({ error: "invalid_grant" });
		}
		// Signing in again works: revocation is of the tokens that existed, not a lasting fault.
		expect((await api((await signIn()).access_token, "GET", "/users/me")).status).toBe(200);
	});

	it("lists every token with its state at /__fake/tokens", async () => {
		await reset({ accessTokenTtlSeconds: 1 });
		const first = await signIn();
		const second = (await (await refreshTokens(first.refresh_token)).json()) as TokenSet;
		await sleep(1100);
		const third = (await (await refreshTokens(second.refresh_token)).json()) as TokenSet;
		await setFaults({ revokeAllTokens: true });
		const fourth = await signIn();

		const { tokens } = await peek<{ tokens: TokenRow[] }>("/__fake/tokens");
		const stateOf = (value: string) => tokens.find((t) => t.value === value);
		expect(tokens).toHaveLength(8);
		expect(stateOf(first.access_token)).toEqual({ type: "access", value: first.access_token, userId: 1, state: "expired" });
		expect(stateOf(first.refresh_token)).toMatchObject({ type: "refresh", state: "used" });
		expect(stateOf(second.refresh_token)).toMatchObject({ type: "refresh", state: "used" });
		expect(stateOf(third.access_token)).toMatchObject({ type: "access", state: "revoked" });
		expect(stateOf(third.refresh_token)).toMatchObject({ type: "refresh", state: "revoked" });
		expect(stateOf(fourth.access_token)).toMatchObject({ type: "access", userId: 1, state: "active" });
		expect(stateOf(fourth.refresh_token)).toMatchObject({ type: "refresh", state: "active" });
	});
});
