import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { evaluateAlerts } from "../../src/alerts/evaluate";
import { gateStub } from "../../src/gate/gate";
import { auditHooks } from "../helpers/audit";
import { adminJson, connectDestination, createConnectedDestination, gateAccessToken, getDestination, outreachFaults, repGate, resetOutreach, sleep } from "../helpers/control";
import { activity, ingestOk, putMapping } from "../helpers/data";

/**
 * Token custody that never wedges: a refusal affects only the grant generation that received it; a refresh
 * whose answer was lost turns the connection `reconnect_required` with a reason that says so (refresh tokens
 * rotate: sending it again is not safe), and the alert fires; a KV mirror write that fails is retried until it
 * sticks, and meanwhile the console and the alerts read the gate, never a stale "Connected".
 */

auditHooks();

const HOOK = "https://hooks.example.test/services/T000/B000/custody";
let received: string[] = [];

beforeEach(async () => {
	received = [];
	const realFetch = globalThis.fetch;
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
		const url = input instanceof Request ? input.url : String(input);
		if (!url.startsWith(HOOK)) return realFetch(input, init);
		received.push((JSON.parse(String(init?.body)) as { text: string }).text);
		return new Response("ok");
	});
});

afterEach(async () => {
	vi.restoreAllMocks();
	for (const key of (await env.CONFIG.list({ prefix: "alerts:" })).keys) await env.CONFIG.delete(key.name);
});

describe("a refusal of a token", () => {
	it("marks only the grant generation that received it: a 403 answered to an older grant's token leaves the reconnected grant alone", async () => {
		await resetOutreach({ accessTokenTtlSeconds: 3600 });
		const d = await createConnectedDestination();
		const before = await gateAccessToken(d.id);
		if (!before.ok) throw new Error("expected a working connection");
		await connectDestination(d.id); // a reconnect: a new grant, a newer generation
		const after = await gateAccessToken(d.id);
		expect(after.ok && after.generation).toBeGreaterThan(before.generation);

		// The call that carried the old token comes back 403 unauthorizedOauthScope only now.
		await gateStub(env, repGate()).markReconnectRequired(d.id, "The Outreach connection lacks a scope it needs; reconnect it.", before.generation);
		expect((await getDestination(d.id)).status).toBe("connected");
		expect((await gateAccessToken(d.id)).ok).toBe(true);

		// The same refusal of the current grant's token does mark it.
		await gateStub(env, repGate()).markReconnectRequired(d.id, "The Outreach connection lacks a scope it needs; reconnect it.", after.ok ? after.generation : 0);
		expect((await getDestination(d.id)).status).toBe("reconnect_required");
	});
});

describe("a refresh whose answer was lost", () => {
	it("makes the connection reconnect_required with a reason that says so, holds the updates, and the alert fires within a minute", async () => {
		await resetOutreach({ accessTokenTtlSeconds: 4 });
		const d = await createConnectedDestination({ name: "Lost answer" });
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		await adminJson(`/api/destinations/${d.id}/alerts`, { method: "PUT", json: { webhookUrl: HOOK, conditions: { connectionLost: true } } });
		await sleep(2_200); // past half the token's life: the next use refreshes it
		await outreachFaults({ tokenAnswerLost: 1 });
		await ingestOk(d.id, d.ingestToken, { person: { name: { firstName: "Ana" } }, identityMap: { Oid: [{ id: "31" }] } });
		await vi.waitUntil(async () => (await getDestination(d.id)).status === "reconnect_required", { timeout: 15_000, interval: 200 });
		const shown = await getDestination(d.id);
		expect(shown.statusReason).toBe("Outreach's answer to a token refresh was lost; reconnect to issue a new grant.");
		await vi.waitUntil(async () => (await activity(d.id)).totals.held === 1, { timeout: 15_000, interval: 200 });
		expect((await activity(d.id)).totals).toMatchObject({ pending: 1, held: 1, failed: 0 });

		await evaluateAlerts(env, Date.now() + 60_000);
		expect(received).toEqual([expect.stringMatching(/Lost answer — Connection lost: the Outreach connection \(rep@example\.com\) needs reconnecting/)]);

		// Reconnecting delivers what was held.
		await outreachFaults({});
		await connectDestination(d.id);
		await vi.waitUntil(async () => (await activity(d.id)).totals.delivered === 1, { timeout: 20_000, interval: 250 });
	});
});

describe("the connection's KV mirror", () => {
	it("heals after a failed write, and meanwhile the API and the alerts show what the gate holds, never Connected", async () => {
		await resetOutreach({ accessTokenTtlSeconds: 3600 });
		const d = await createConnectedDestination({ name: "Mirror" });
		await adminJson(`/api/destinations/${d.id}/alerts`, { method: "PUT", json: { webhookUrl: HOOK, conditions: { connectionLost: true } } });
		const gate = gateStub(env, repGate());
		// KV refuses the gate's writes for a while (e.g. its limit of one write per second per key).
		await runInDurableObject(gate, (instance) => {
			vi.spyOn((instance as unknown as { env: Env }).env.CONFIG, "put").mockRejectedValue(new Error("KV write failed"));
		});
		const current = await gateAccessToken(d.id);
		if (!current.ok) throw new Error("expected a working connection");
		await outreachFaults({ revokeAllTokens: true });
		expect(await gateAccessToken(d.id, { rejected: current.token })).toMatchObject({ status: "reconnect_required" });
		expect(JSON.parse((await env.CONFIG.get(`connection:${d.id}`))!).status, "KV still has the old record").toBe("connected");

		expect((await getDestination(d.id)).status).toBe("reconnect_required");
		await evaluateAlerts(env, Date.now() + 60_000);
		expect(received).toEqual([expect.stringMatching(/Mirror — Connection lost/)]);

		await runInDurableObject(gate, (instance) => {
			vi.mocked((instance as unknown as { env: Env }).env.CONFIG.put).mockRestore();
		});
		await runDurableObjectAlarm(gate);
		expect(JSON.parse((await env.CONFIG.get(`connection:${d.id}`))!).status, "the mirror healed").toBe("reconnect_required");
	});
});
