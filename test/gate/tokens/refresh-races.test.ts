import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { app } from "../../../src/app";
import { gateStub } from "../../../src/gate/gate";
import { admin, connectDestination, createConnectedDestination, createDestination, gateAccessToken, repGate, resetOutreach, sleep } from "../../helpers/control";
import { held, watchTokenRequests } from "../../helpers/token-requests";

/** What happens to callers when the grant changes while its refresh is still in flight. */

let watch: ReturnType<typeof watchTokenRequests>;
beforeEach(async () => {
	await resetOutreach({ accessTokenTtlSeconds: 1 });
	watch = watchTokenRequests();
});
afterEach(() => watch.restore());

/** A connected destination whose access token has expired, and a refresh for it held in flight until `release()`. */
async function refreshInFlight() {
	const { id } = await createConnectedDestination();
	await sleep(1_100);
	const refresh = held();
	watch.answerNext(refresh.answer);
	const callers = Promise.all(Array.from({ length: 5 }, () => gateAccessToken(id)));
	await sleep(100);
	return { id, callers, release: refresh.release };
}

describe("a refresh in flight when", () => {
	it("the connection is marked lost: callers get reconnect_required, and it stays so", async () => {
		const { id, callers, release } = await refreshInFlight();
		await gateStub(env, repGate()).markReconnectRequired(id, "scope missing");
		release();
		for (const r of await callers) expect(r).toMatchObject({ status: "reconnect_required", reason: "scope missing" });
		expect(await gateAccessToken(id)).toMatchObject({ status: "reconnect_required" });
	});

	it("the connection is removed: callers get not_connected, and nothing comes back", async () => {
		const { id, callers, release } = await refreshInFlight();
		expect((await admin(`/api/destinations/${id}/connection`, { method: "DELETE" })).status).toBe(200);
		release();
		for (const r of await callers) expect(r).toMatchObject({ status: "not_connected" });
		expect(await gateStub(env, repGate()).connection(id)).toBeNull();
		expect(await env.CONFIG.get(`connection:${id}`)).toBeNull();
	});

	it("the destination is reconnected: callers get a token of the new grant", async () => {
		await resetOutreach({ accessTokenTtlSeconds: 2 });
		const { id } = await createConnectedDestination();
		await sleep(2_100);
		const refresh = held();
		watch.answerNext(refresh.answer);
		const callers = Promise.all(Array.from({ length: 5 }, () => gateAccessToken(id)));
		await sleep(100);
		await connectDestination(id); // stores a new grant while the old one's refresh is in flight
		refresh.release();
		const fromNewGrant = await gateAccessToken(id);
		expect(fromNewGrant.ok).toBe(true);
		for (const r of await callers) expect(r).toEqual(fromNewGrant);
	});
});

describe("connect without TOKEN_ENCRYPTION_KEY", () => {
	it("answers a clear 500 before anyone is sent to Outreach", async () => {
		const { id } = await createDestination();
		const res = await app.fetch(
			new Request(`http://localhost/api/destinations/${id}/connect`, { method: "POST", headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}` } }),
			{ ...env, TOKEN_ENCRYPTION_KEY: "" },
		);
		expect(res.status).toBe(500);
		expect(await res.json()).toEqual({ error: { code: "misconfigured", message: expect.stringMatching(/TOKEN_ENCRYPTION_KEY is not set/) } });
		// No sign-in was started for it: no state names this destination (other files' states may share the runtime).
		const states = await env.CONFIG.list({ prefix: "oauth-state:" });
		const forIt = await Promise.all(states.keys.map(async (k) => ((await env.CONFIG.get<{ destinationId: string }>(k.name, "json"))?.destinationId === id ? k.name : null)));
		expect(forIt.filter(Boolean)).toEqual([]);
	});
});
