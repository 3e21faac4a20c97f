import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { cookiePair, post } from "../console/helpers";

/**
 * Guessing the admin token is throttled per client address (CF-Connecting-IP): after 10 wrong tokens in 10
 * minutes — through the admin API's bearer or the console's sign-in, which guard the same secret — further
 * wrong ones are answered 429 with Retry-After. The right token is checked first and always works, so a
 * guesser cannot lock the admin out; other addresses are not affected.
 */

const WRONG = `Bearer ${"w".repeat(43)}`;

function api(address: string | null, authorization: string | null): Promise<Response> {
	const headers = new Headers();
	if (address) headers.set("CF-Connecting-IP", address);
	if (authorization) headers.set("Authorization", authorization);
	return SELF.fetch("http://localhost/api/destinations", { headers });
}

function signIn(address: string, token: string): Promise<Response> {
	return post("/signin", { token, next: "/" }, undefined, { "CF-Connecting-IP": address });
}

function expectThrottled(res: Response, what: string) {
	expect(res.status, what).toBe(429);
	const retryAfter = Number(res.headers.get("Retry-After"));
	expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 600, `Retry-After ${res.headers.get("Retry-After")}`).toBe(true);
}

describe("wrong admin tokens", () => {
	it("are answered 401 ten times, then 429 with Retry-After — while the right token still works", async () => {
		const address = "203.0.113.10";
		for (let i = 1; i <= 10; i++) expect((await api(address, WRONG)).status, `wrong token #${i}`).toBe(401);
		const throttled = await api(address, WRONG);
		expectThrottled(throttled, "wrong token #11");
		const body = (await throttled.json()) as { error: { code: string; message: string } };
		expect(body.error.code).toBe("too_many_requests");
		expect(body.error.message).toMatch(/Too many wrong admin tokens/);
		expect(body.error.message).toMatch(/the right token still works/);
		expect((await api(address, `Bearer ${env.ADMIN_TOKEN}`)).status, "the right token").toBe(200);
		expectThrottled(await api(address, WRONG), "still throttled after the right token");
		// Another address is judged on its own.
		expect((await api("203.0.113.11", WRONG)).status).toBe(401);
	});

	it("count the console's sign-in too: the 11th wrong token is refused there, the right one signs in", async () => {
		const address = "203.0.113.20";
		for (let i = 1; i <= 5; i++) expect((await api(address, WRONG)).status).toBe(401);
		for (let i = 6; i <= 10; i++) expect((await signIn(address, "not-the-admin-token-0123456789abcdef")).status, `sign-in #${i}`).toBe(401);
		const refused = await signIn(address, "not-the-admin-token-0123456789abcdef");
		expectThrottled(refused, "sign-in #11");
		expect(cookiePair(refused)).toBeNull();
		expect(await refused.text()).toMatch(/Too many wrong admin tokens from this address/);
		const ok = await signIn(address, env.ADMIN_TOKEN);
		expect(ok.status).toBe(303);
		expect(cookiePair(ok)).toMatch(/^aep_console=/);
	});

	it("do not count requests that present no token", async () => {
		const address = "203.0.113.30";
		for (let i = 0; i < 20; i++) expect((await api(address, null)).status).toBe(401);
		expect((await api(address, WRONG)).status).toBe(401);
	});

	it("are counted under one shared key when the request carries no client address", async () => {
		for (let i = 1; i <= 10; i++) expect((await api(null, WRONG)).status).toBe(401);
		expectThrottled(await api(null, WRONG), "no CF-Connecting-IP");
		expect((await api(null, `Bearer ${env.ADMIN_TOKEN}`)).status).toBe(200);
	});
});
