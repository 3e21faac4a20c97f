import { env, SELF } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { gateStub } from "../../src/gate/gate";
import { beginConnect } from "../../src/oauth/begin";
import { callback, createDestination, getDestination, outreachStats, repGate, resetOutreach, signIn, startConnect } from "../helpers/control";

/** Every way the callback must refuse — and, each time, store nothing. */

beforeEach(async () => {
	await resetOutreach();
});

/** Nothing of a grant exists for the destination: no KV connection record, no row in the gate, not connected. */
async function expectNothingStored(destinationId: string) {
	expect(await env.CONFIG.get(`connection:${destinationId}`)).toBeNull();
	expect(await gateStub(env, repGate()).connection(destinationId)).toBeNull();
	expect((await getDestination(destinationId)).status).toBe("not_connected");
}

function withState(url: string, state: string): string {
	const u = new URL(url);
	u.searchParams.set("state", state);
	return u.href;
}

async function refusal(res: Response): Promise<{ reason: string; message: string }> {
	expect(res.status).toBe(400);
	const body = (await res.json()) as { error: { code: string; message: string; details: { reason: string } } };
	expect(body.error.code).toBe("bad_request");
	return { reason: body.error.details.reason, message: body.error.message };
}

describe("the OAuth callback refuses", () => {
	it("a forged state, without exchanging the code", async () => {
		const { id } = await createDestination();
		const redirect = await signIn(await startConnect(id));
		const forged = withState(redirect, "forged-state-that-we-never-issued-0123456789");
		const { reason, message } = await refusal(await callback(forged, { json: true }));
		expect(reason).toBe("state_unknown");
		expect(message).toMatch(/unknown or has expired/);
		expect((await outreachStats()).tokenGrants.authorization_code).toBe(0);
		await expectNothingStored(id);
	});

	it("a missing state", async () => {
		const { id } = await createDestination();
		const redirect = new URL(await signIn(await startConnect(id)));
		redirect.searchParams.delete("state");
		expect((await refusal(await callback(redirect.href, { json: true }))).reason).toBe("state_missing");
		await expectNothingStored(id);
	});

	it("a reused state, keeping the first grant untouched", async () => {
		const { id } = await createDestination();
		const authorizeUrl = await startConnect(id);
		// Two sign-ins with one state: two codes, one state. Only the first answer may connect.
		const first = await signIn(authorizeUrl);
		const second = await signIn(authorizeUrl);
		expect((await callback(first, { json: true })).status).toBe(200);
		const before = await gateStub(env, repGate()).connection(id);

		const reused = await refusal(await callback(second, { json: true }));
		expect(["state_unknown", "state_reused"]).toContain(reused.reason);
		expect((await outreachStats()).tokenGrants.authorization_code).toBe(1);
		expect(await gateStub(env, repGate()).connection(id)).toEqual(before);
	});

	it("a reused state even while KV still shows it (single use is decided by the ledger)", async () => {
		const { id } = await createDestination();
		const authorizeUrl = await startConnect(id);
		const state = new URL(authorizeUrl).searchParams.get("state")!;
		const saved = await env.CONFIG.get(`oauth-state:${state}`);
		const first = await signIn(authorizeUrl);
		const second = await signIn(authorizeUrl);
		expect((await callback(first, { json: true })).status).toBe(200);
		// A stale KV read elsewhere would still see the state: put it back to simulate that.
		await env.CONFIG.put(`oauth-state:${state}`, saved!, { expirationTtl: 600 });
		expect((await refusal(await callback(second, { json: true }))).reason).toBe("state_reused");
		expect((await outreachStats()).tokenGrants.authorization_code).toBe(1);
	});

	it("an expired state (older than 10 minutes)", async () => {
		const { id } = await createDestination();
		const state = "expired-state-0123456789abcdefghijklmnopqrstu";
		const createdAt = new Date(Date.now() - 10 * 60_000 - 1_000).toISOString();
		await env.CONFIG.put(`oauth-state:${state}`, JSON.stringify({ destinationId: id, createdAt }), { expirationTtl: 600 });
		const redirect = await signIn(withState(await startConnect(id), state));
		const { reason, message } = await refusal(await callback(redirect, { json: true }));
		expect(reason).toBe("state_expired");
		expect(message).toMatch(/10 minutes/);
		expect((await outreachStats()).tokenGrants.authorization_code).toBe(0);
		await expectNothingStored(id);
	});

	it("a state started by another console session", async () => {
		const { id } = await createDestination();
		const url = await beginConnect(env, "http://localhost/", { id, bulkApi: false }, "console-session-1");
		const { reason } = await refusal(await callback(await signIn(url), { json: true }));
		expect(reason).toBe("session_mismatch");
		expect((await outreachStats()).tokenGrants.authorization_code).toBe(0);
		await expectNothingStored(id);
	});

	it("a code Outreach will not exchange", async () => {
		const { id } = await createDestination();
		const redirect = new URL(await signIn(await startConnect(id)));
		redirect.searchParams.set("code", "not-a-code-outreach-issued");
		const { reason, message } = await refusal(await callback(redirect.href, { json: true }));
		expect(reason).toBe("exchange_failed");
		expect(message).toMatch(/invalid_grant/);
		await expectNothingStored(id);
	});

	it("a grant without users.read (Outreach will not say who signed in)", async () => {
		const { id } = await createDestination();
		const narrow = { ...env, OUTREACH_SCOPES: "prospects.read prospects.write" };
		const connect = await app.fetch(
			new Request(`http://localhost/api/destinations/${id}/connect`, { method: "POST", headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}` } }),
			narrow,
		);
		const { authorizeUrl } = (await connect.json()) as { authorizeUrl: string };
		const redirect = new URL(await signIn(authorizeUrl));
		const res = await app.fetch(new Request(`http://localhost${redirect.pathname}${redirect.search}`, { headers: { Accept: "application/json" } }), narrow);
		const { reason, message } = await refusal(res);
		expect(reason).toBe("user_lookup_failed");
		expect(message).toMatch(/users\.read/);
		await expectNothingStored(id);
	});

	it("access_denied, with a clear page", async () => {
		const { id } = await createDestination();
		const redirect = await signIn(await startConnect(id), { decision: "decline" });
		expect(new URL(redirect).searchParams.get("error")).toBe("access_denied");

		const page = await callback(redirect);
		expect(page.status).toBe(400);
		expect(page.headers.get("Content-Type")).toMatch(/text\/html/);
		expect(page.headers.get("Cache-Control")).toBe("no-store");
		const text = await page.text();
		expect(text).toContain("Access declined");
		expect(text).toContain("declined at Outreach, so nothing was connected");
		expect(text).toContain(`href="/destinations/`);

		// The state was spent by the first answer; a second one is still refused, as access_denied.
		expect((await refusal(await callback(redirect, { json: true }))).reason).toBe("access_denied");
		await expectNothingStored(id);
	});

	it("with an HTML page by default, escaping what Outreach sent", async () => {
		const res = await SELF.fetch("http://localhost/oauth/callback?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
		expect(res.status).toBe(400);
		const text = await res.text();
		expect(text).not.toContain("<script>");
		expect(text).toContain("&lt;script&gt;");
	});
});
