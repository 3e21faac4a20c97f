import { beforeEach, describe, expect, it } from "vitest";
import { api, base, exchangeCode, peek, refreshTokens, reset, setFaults, signIn, signInCode, type TokenSet } from "./helpers.ts";

type TokenRow = { type: "access" | "refresh"; value: string; userId: number; state: string };
type Stats = { tokenGrants: { authorization_code: number; refresh_token: number } };

/** The token request's outcome as the client sees it: a status, or that the connection failed. */
async function outcome(request: Promise<Response>): Promise<number | "failed"> {
	try {
		const res = await request;
		await res.arrayBuffer();
		return res.status;
	} catch {
		return "failed";
	}
}

describe("local Outreach: the tokenAnswerLost fault", () => {
	beforeEach(() => reset());

	it("carries out the refresh but drops the connection: the fetch fails and the old refresh token is used", async () => {
		const tokens = await signIn();
		await setFaults({ tokenAnswerLost: 1 });
		expect(await outcome(refreshTokens(tokens.refresh_token))).toBe("failed");

		// It happened at Outreach: the old refresh token was rotated away and a new pair was minted.
		const retry = await refreshTokens(tokens.refresh_token);
		expect(retry.status).toBe(400);
		expect(await retry.json()).toMatchObject({ error: "invalid_grant" });
		const { tokens: rows } = await peek<{ tokens: TokenRow[] }>("/__fake/tokens");
		expect(rows.find((t) => t.value === tokens.refresh_token)?.state).toBe("used");
		expect(rows.filter((t) => t.state === "active").map((t) => t.type).sort()).toEqual(["access", "access", "refresh"]);
		expect((await peek<Stats>("/__fake/stats")).tokenGrants.refresh_token).toBe(1);
	});

	it("loses the next N answers, then answers again", async () => {
		const [a, b, c] = [await signIn(), await signIn(), await signIn()];
		await setFaults({ tokenAnswerLost: 2 });
		expect(await outcome(refreshTokens(a.refresh_token))).toBe("failed");
		expect(await outcome(refreshTokens(b.refresh_token))).toBe("failed");
		const res = await refreshTokens(c.refresh_token); // the fault is spent
		expect(res.status).toBe(200);
		const fresh = (await res.json()) as TokenSet;
		expect((await api(fresh.access_token, "GET", "/users/me")).status).toBe(200);
	});

	it("loses a code exchange's answer too, after the code was used", async () => {
		const code = await signInCode();
		await setFaults({ tokenAnswerLost: 1 });
		expect(await outcome(exchangeCode(code))).toBe("failed");
		const again = await exchangeCode(code);
		expect(again.status).toBe(400);
		expect(await again.json()).toMatchObject({ error: "invalid_grant", error_description: "The authorization code was already used." });
	});

	it("is cleared by {} and by a reset, and leaves API calls alone", async () => {
		const tokens = await signIn();
		await setFaults({ tokenAnswerLost: 3 });
		expect((await api(tokens.access_token, "GET", "/users/me")).status).toBe(200);
		await setFaults({});
		expect((await refreshTokens(tokens.refresh_token)).status).toBe(200);
		await setFaults({ tokenAnswerLost: 1 });
		await reset();
		expect((await exchangeCode(await signInCode())).status).toBe(200);
	});

	it("refuses a count that is not a positive integer", async () => {
		for (const tokenAnswerLost of [0, -1, 1.5, true]) {
			const res = await fetch(`${base}/__fake/faults`, { method: "POST", body: JSON.stringify({ tokenAnswerLost }) });
			expect(res.status, String(tokenAnswerLost)).toBe(400);
		}
	});
});
