import { env, SELF } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { get, signInConsole, submit, type Browser } from "../console/helpers";
import { createDestination, getDestination, outreachStats, resetOutreach, signIn } from "../helpers/control";

/**
 * An error answer at /oauth/callback (`error=access_denied`) is checked like a success before it spends the
 * state: the state must be known, not expired, and — when a console session started the flow — come back
 * in that same session. Otherwise anyone who saw the owner's state could cancel the owner's sign-in.
 */

beforeEach(async () => {
	await resetOutreach();
});

/** Starts Connect from the console; answers Outreach's authorize URL and its state. */
async function connectFromConsole(browser: Browser, id: string): Promise<{ authorizeUrl: string; state: string }> {
	const res = await submit(`/destinations/${id}/connect`, {}, browser, `/destinations/${id}`);
	expect(res.status).toBe(303);
	const authorizeUrl = res.headers.get("Location")!;
	expect(authorizeUrl.startsWith(`${env.OUTREACH_API_BASE}/oauth/authorize?`)).toBe(true);
	return { authorizeUrl, state: new URL(authorizeUrl).searchParams.get("state")! };
}

function errorAnswer(state: string, headers: HeadersInit = {}): Promise<Response> {
	return SELF.fetch(`http://localhost/oauth/callback?error=access_denied&state=${encodeURIComponent(state)}`, { headers, redirect: "manual" });
}

describe("an error answer at the OAuth callback", () => {
	it("from another browser does not spend the owner's state: the owner's real sign-in still connects", async () => {
		const { id } = await createDestination({ name: "Owner's" });
		const owner = await signInConsole();
		const { authorizeUrl, state } = await connectFromConsole(owner, id);

		// A stranger (no session cookie) replays the state with an error.
		const stranger = await errorAnswer(state, { Accept: "application/json" });
		expect(stranger.status).toBe(400);
		const body = (await stranger.json()) as { error: { message: string; details: { reason: string } } };
		expect(body.error.details.reason).toBe("session_mismatch");
		expect(body.error.message).toMatch(/another browser session/);

		// Another console session is a stranger too.
		const other = await signInConsole();
		expect((await errorAnswer(state, { Accept: "application/json", Cookie: other.cookie! })).status).toBe(400);

		const back = new URL(await signIn(authorizeUrl));
		const res = await get(`${back.pathname}${back.search}`, owner);
		expect(res.status, await res.clone().text()).toBe(302);
		expect(res.headers.get("Location")).toBe(`/destinations/${id}?connected=1`);
		expect((await getDestination(id)).status).toBe("connected");
	});

	it("from the owner's own session spends the state: a later success with it is refused", async () => {
		const { id } = await createDestination({ name: "Declined" });
		const owner = await signInConsole();
		const { authorizeUrl, state } = await connectFromConsole(owner, id);

		const declined = await errorAnswer(state, { Accept: "application/json", Cookie: owner.cookie! });
		expect(declined.status).toBe(400);
		expect(((await declined.json()) as { error: { details: { reason: string } } }).error.details.reason).toBe("access_denied");

		const back = new URL(await signIn(authorizeUrl));
		const res = await get(`${back.pathname}${back.search}`, owner, { Accept: "application/json" });
		expect(res.status).toBe(400);
		expect(["state_unknown", "state_reused"]).toContain(((await res.json()) as { error: { details: { reason: string } } }).error.details.reason);
		expect((await outreachStats()).tokenGrants.authorization_code).toBe(0);
		expect((await getDestination(id)).status).toBe("not_connected");
	});

	it("with an expired state is refused as expired, not taken as a decline", async () => {
		const { id } = await createDestination({ name: "Expired" });
		const state = "expired-error-state-0123456789abcdefghijklmnop";
		const createdAt = new Date(Date.now() - 10 * 60_000 - 1_000).toISOString();
		await env.CONFIG.put(`oauth-state:${state}`, JSON.stringify({ destinationId: id, createdAt }), { expirationTtl: 600 });
		const res = await errorAnswer(state, { Accept: "application/json" });
		expect(res.status).toBe(400);
		expect(((await res.json()) as { error: { details: { reason: string } } }).error.details.reason).toBe("state_expired");
	});
});
