import { env, SELF } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { gateStub } from "../../../src/gate/gate";
import {
	connectDestination,
	createConnectedDestination,
	gateAccessToken,
	getDestination,
	outreachFaults,
	outreachStats,
	repGate,
	resetOutreach,
	sleep,
} from "../../helpers/control";
import { networkDown, unavailable503, watchTokenRequests } from "../../helpers/token-requests";

let watch: ReturnType<typeof watchTokenRequests>;
beforeEach(async () => {
	await resetOutreach({ accessTokenTtlSeconds: 1 });
	watch = watchTokenRequests();
});
afterEach(() => watch.restore());

/** The status the destination shows once KV and this isolate's 5-second cache have caught up. */
async function eventualStatus(id: string, status: string) {
	await vi.waitUntil(async () => (await getDestination(id)).status === status, { timeout: 8_000, interval: 250 });
}

describe("a grant Outreach revoked", () => {
	it("turns reconnect_required after one failed refresh, with no refresh storm", async () => {
		const { id } = await createConnectedDestination();
		await outreachFaults({ revokeAllTokens: true });
		await sleep(1_100); // the access token expires: the next caller must refresh

		const first = await gateAccessToken(id);
		expect(first).toMatchObject({ ok: false, status: "reconnect_required" });
		expect(first.ok === false && first.reason).toMatch(/invalid_grant/);
		expect(watch.refreshes()).toHaveLength(1);

		// Many more callers, sequential and concurrent, some reporting a rejected token: none asks Outreach.
		for (let i = 0; i < 5; i++) expect(await gateAccessToken(id)).toMatchObject({ status: "reconnect_required" });
		const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => gateAccessToken(id, { rejected: i % 2 ? "x" : undefined })));
		expect(burst.every((r) => !r.ok && r.status === "reconnect_required")).toBe(true);
		expect(watch.refreshes()).toHaveLength(1);
		expect((await outreachStats()).tokenGrants.refresh_token).toBe(0);

		await eventualStatus(id, "reconnect_required");
		expect((await getDestination(id)).statusReason).toMatch(/Reconnect/);
	});

	it("a 401 reported by delivery (rejected token) also ends in reconnect_required after one refresh", async () => {
		await resetOutreach({ accessTokenTtlSeconds: 3600 });
		const { id } = await createConnectedDestination();
		const token = await gateAccessToken(id);
		await outreachFaults({ revokeAllTokens: true });
		const rejected = token.ok ? token.token : "";
		const results = await Promise.all(Array.from({ length: 10 }, () => gateAccessToken(id, { rejected })));
		expect(results.every((r) => !r.ok && r.status === "reconnect_required")).toBe(true);
		expect(watch.refreshes()).toHaveLength(1);
	});

	it("is repaired by connecting again", async () => {
		const { id } = await createConnectedDestination();
		await outreachFaults({ revokeAllTokens: true });
		await sleep(1_100);
		expect(await gateAccessToken(id)).toMatchObject({ status: "reconnect_required" });

		const destination = await connectDestination(id);
		expect(destination.status).toBe("connected");
		expect((await gateAccessToken(id)).ok).toBe(true);
	});

	it("only affects the destination whose refresh failed", async () => {
		await resetOutreach({ accessTokenTtlSeconds: 3600 });
		const a = await createConnectedDestination({ name: "A" });
		const b = await createConnectedDestination({ name: "B" });
		await gateStub(env, repGate()).markReconnectRequired(a.id, "Outreach answered 403 unauthorizedOauthScope. Reconnect.");
		expect(await gateAccessToken(a.id)).toMatchObject({ status: "reconnect_required", reason: expect.stringMatching(/unauthorizedOauthScope/) });
		expect((await gateAccessToken(b.id)).ok).toBe(true);
		expect(watch.refreshes()).toHaveLength(0);
	});
});

describe("Outreach's token endpoint failing transiently", () => {
	it("answers unavailable with a retry time, keeps the grant, and does not retry before that time", async () => {
		const { id } = await createConnectedDestination();
		await sleep(1_100);
		watch.answerNext(unavailable503, unavailable503);
		const first = await gateAccessToken(id);
		expect(first).toMatchObject({ ok: false, status: "unavailable" });
		const wait = first.ok === false && first.status === "unavailable" ? first.retryAfterMs : 0;
		expect(wait).toBeGreaterThanOrEqual(500); // RETRY_BASE_SECONDS = 1 in tests

		// Within the back-off: answered from storage, no request to Outreach.
		expect(await gateAccessToken(id)).toMatchObject({ status: "unavailable" });
		expect(watch.refreshes()).toHaveLength(1);

		await sleep(wait + 50);
		const second = await gateAccessToken(id); // failing again: a longer back-off
		expect(second).toMatchObject({ ok: false, status: "unavailable" });
		expect(second.ok === false && second.status === "unavailable" && second.retryAfterMs).toBeGreaterThan(wait);
		await sleep((second.ok === false && second.status === "unavailable" ? second.retryAfterMs : 0) + 50);

		expect((await gateAccessToken(id)).ok).toBe(true);
		expect(watch.refreshes().map((r) => r.status)).toEqual([503, 503, 200]);
		expect((await getDestination(id)).status).toBe("connected");
	});

	it("never sends a refresh token again whose answer was lost: the connection needs a reconnect, and says why", async () => {
		const { id } = await createConnectedDestination();
		await sleep(1_100);
		watch.answerNext(networkDown);
		expect(await gateAccessToken(id)).toMatchObject({
			ok: false,
			status: "reconnect_required",
			reason: "Outreach's answer to a token refresh was lost; reconnect to issue a new grant.",
		});
		expect(await gateAccessToken(id)).toMatchObject({ status: "reconnect_required" });
		expect(watch.refreshes().map((r) => r.status), "the refresh token was sent once").toEqual([0]);
		expect(await getDestination(id)).toMatchObject({ status: "reconnect_required", statusReason: expect.stringMatching(/answer to a token refresh was lost/) });
	});

	it("keeps handing out a still-valid token when refreshing ahead of expiry fails", async () => {
		await resetOutreach({ accessTokenTtlSeconds: 4 });
		const { id } = await createConnectedDestination();
		const first = await gateAccessToken(id);
		await sleep(2_200); // past half its life: a refresh is due, but the token still works
		watch.answerNext(() => new Response("{}", { status: 502 }));
		const second = await gateAccessToken(id);
		expect(second).toEqual(first);
		expect(watch.refreshes()).toHaveLength(1);
	});
});

describe("the gate after eviction", () => {
	it("loses nothing: a connected grant and a lost one both survive", async () => {
		await resetOutreach({ accessTokenTtlSeconds: 3600 });
		const a = await createConnectedDestination({ name: "A" });
		const b = await createConnectedDestination({ name: "B" });
		const before = await gateAccessToken(a.id);
		await gateStub(env, repGate()).markReconnectRequired(b.id, "scope missing");

		// A new object instance: nothing in memory, everything from SQLite.
		const { abortAllDurableObjects } = await import("cloudflare:test");
		await abortAllDurableObjects();

		expect(await gateAccessToken(a.id)).toEqual(before);
		expect(await gateAccessToken(b.id)).toMatchObject({ status: "reconnect_required", reason: "scope missing" });
		const health = await SELF.fetch("http://localhost/healthz");
		expect(health.status).toBe(200);
	});
});
