import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { evaluateAlerts } from "../../src/alerts/evaluate";
import profilesArray from "../fixtures/profiles-array.json";
import mapping from "../fixtures/mapping.json";
import { adminJson, connectDestination, createDestination, gateAccessToken, outreachFaults, resetOutreach } from "../helpers/control";
import { activity, ingestOk, putMapping } from "../helpers/data";

/**
 * The alert evaluator with a local receiver: fetches to the webhook URL are captured (everything else,
 * the local Outreach included, passes through). Time is passed to evaluateAlerts, so an hour takes no time.
 */

const HOOK = "https://hooks.example.test/services/T000/B000/secret";
const MIN = 60_000;

let received: string[] = [];
let hookStatus = 200;

beforeEach(async () => {
	await resetOutreach({ prospects: [4212, 4213] });
	received = [];
	hookStatus = 200;
	const realFetch = globalThis.fetch;
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
		const url = input instanceof Request ? input.url : String(input);
		if (!url.startsWith(HOOK)) return realFetch(input, init);
		const body = JSON.parse(String(init?.body)) as { text: string };
		received.push(body.text);
		return new Response(hookStatus === 200 ? "ok" : "no", { status: hookStatus });
	});
});

afterEach(async () => {
	vi.restoreAllMocks();
	// Storage lives as long as the file: switch earlier tests' alerts off so they do not speak in later ones.
	for (const key of (await env.CONFIG.list({ prefix: "alerts:" })).keys) await env.CONFIG.delete(key.name);
});

function alertsOn(id: string, conditions: Record<string, unknown>) {
	return adminJson(`/api/destinations/${id}/alerts`, { method: "PUT", json: { webhookUrl: HOOK, conditions } });
}

/** Makes Outreach refuse the destination's grant, the way a revoked app or changed password does. */
async function loseConnection(id: string): Promise<void> {
	const current = await gateAccessToken(id);
	if (!current.ok) throw new Error("expected a working connection first");
	await outreachFaults({ revokeAllTokens: true });
	await gateAccessToken(id, { rejected: current.token });
	await outreachFaults({});
	expect((await adminJson<{ status: string }>(`/api/destinations/${id}`)).status).toBe("reconnect_required");
}

describe("alerts: connection lost", () => {
	it("sends one alert when it starts, none again within the hour, and one recovery", async () => {
		const { id } = await createDestination({ name: "EU prospects" });
		await connectDestination(id);
		await alertsOn(id, { connectionLost: true });
		const t0 = Date.now();

		expect(await evaluateAlerts(env, t0)).toEqual({ evaluated: 1, sent: 0 });
		expect(received).toEqual([]);

		await loseConnection(id);
		await evaluateAlerts(env, t0 + 1 * MIN);
		expect(received).toHaveLength(1);
		expect(received[0]).toContain("EU prospects");
		expect(received[0]).toContain("Connection lost");
		expect(received[0]).toContain("rep@example.com");

		for (const later of [2, 10, 30, 59]) await evaluateAlerts(env, t0 + later * MIN);
		expect(received, "no repeat within the hour").toHaveLength(1);

		await connectDestination(id);
		await evaluateAlerts(env, t0 + 60 * MIN);
		expect(received).toHaveLength(2);
		expect(received[1]).toContain("resolved");

		await evaluateAlerts(env, t0 + 61 * MIN);
		await evaluateAlerts(env, t0 + 120 * MIN);
		expect(received, "one recovery only").toHaveLength(2);

		const state = await adminJson<{ state: Record<string, { active: boolean }> }>(`/api/destinations/${id}/alerts`);
		expect(state.state.connectionLost?.active).toBe(false);
	});

	it("reminds at most once an hour while the condition lasts", async () => {
		const { id } = await createDestination();
		await connectDestination(id);
		await alertsOn(id, { connectionLost: true });
		await loseConnection(id);
		const t0 = Date.now();
		await evaluateAlerts(env, t0);
		await evaluateAlerts(env, t0 + 59 * MIN);
		expect(received).toHaveLength(1);
		await evaluateAlerts(env, t0 + 61 * MIN);
		expect(received).toHaveLength(2);
		expect(received[1]).toContain("still");
	});

	it("tries again on the next run when the webhook fails, without counting it as sent", async () => {
		const { id } = await createDestination();
		await connectDestination(id);
		await alertsOn(id, { connectionLost: true });
		await loseConnection(id);
		const t0 = Date.now();
		hookStatus = 500;
		expect(await evaluateAlerts(env, t0)).toMatchObject({ sent: 0 });
		hookStatus = 200;
		expect(await evaluateAlerts(env, t0 + MIN)).toMatchObject({ sent: 1 });
	});
});

describe("alerts: updates waiting", () => {
	it("alerts when the oldest pending update is older than N minutes, and recovers when it is delivered", async () => {
		// Outreach answers 503 until told otherwise: the updates wait, retried with backoff — pending, not held (a
		// paused destination's held updates are kept out of this alert by design, so pausing cannot stand in here).
		const { id, ingestToken } = await createDestination({ name: "Waiting" });
		await connectDestination(id);
		await putMapping(id, mapping);
		await alertsOn(id, { pendingOlderThanMinutes: 30 });
		await outreachFaults({ status: 503, count: 100_000 });

		await ingestOk(id, ingestToken, profilesArray);
		expect((await activity(id)).totals).toMatchObject({ pending: 2, held: 0 });
		const t0 = Date.now();

		await evaluateAlerts(env, t0 + 10 * MIN);
		expect(received).toEqual([]);
		await evaluateAlerts(env, t0 + 31 * MIN);
		expect(received).toHaveLength(1);
		expect(received[0]).toContain("Updates waiting");
		expect(received[0]).toMatch(/oldest pending update has waited 3\d min/);
		await evaluateAlerts(env, t0 + 45 * MIN);
		expect(received).toHaveLength(1);

		await outreachFaults({});
		await vi.waitUntil(async () => (await activity(id)).totals.pending === 0, { timeout: 60_000, interval: 250 });
		expect((await activity(id)).totals).toMatchObject({ delivered: 2, failed: 0 });
		await evaluateAlerts(env, t0 + 50 * MIN);
		expect(received).toHaveLength(2);
		expect(received[1]).toContain("resolved");
	});
});

describe("alerts: failure rate", () => {
	it("alerts when failed ÷ (delivered + failed) in the last hour is above the threshold", async () => {
		await resetOutreach({ prospects: [4212, 4213], fieldRules: { custom4: { type: "inclusion", definition: ["Active"] } } });
		const { id, ingestToken } = await createDestination();
		await connectDestination(id);
		await putMapping(id, mapping);
		await alertsOn(id, { failureRatePercent: 40 });
		await ingestOk(id, ingestToken, profilesArray);
		await vi.waitUntil(async () => (await activity(id)).totals.pending === 0, { timeout: 60_000, interval: 250 });
		expect((await activity(id)).totals).toMatchObject({ delivered: 1, failed: 1 });

		await evaluateAlerts(env, Date.now());
		expect(received).toHaveLength(1);
		expect(received[0]).toContain("50.0% of deliveries failed in the last hour (1 of 2; alert above 40%)");
		// Two hours on, the failures have left the last hour: it clears.
		await evaluateAlerts(env, Date.now() + 2 * 60 * MIN);
		expect(received).toHaveLength(2);
		expect(received[1]).toContain("resolved");
	});
});

describe("alerts: configuration", () => {
	it("evaluates only destinations with a webhook, and never logs the webhook URL", async () => {
		const log = vi.spyOn(console, "log");
		const { id } = await createDestination();
		await connectDestination(id);
		await adminJson(`/api/destinations/${id}/alerts`, { method: "PUT", json: { webhookUrl: null, conditions: {} } });
		const before = await evaluateAlerts(env, Date.now());
		expect(before.sent).toBe(0);
		await alertsOn(id, { connectionLost: true });
		await loseConnection(id);
		await evaluateAlerts(env, Date.now());
		expect(received).toHaveLength(1);
		const lines = log.mock.calls.map((c) => JSON.stringify(c[0]));
		const sent = lines.filter((l) => l.includes('"event":"alert_sent"'));
		expect(sent).toHaveLength(1);
		expect(sent[0]).toContain(`"destinationId":"${id}"`);
		expect(sent[0]).toMatch(/"requestId":"alerts-/);
		expect(lines.join("\n")).not.toContain("hooks.example.test");
	});

	it("sends a test message on request", async () => {
		const { id } = await createDestination({ name: "Testing" });
		await alertsOn(id, { connectionLost: true });
		expect(await adminJson(`/api/destinations/${id}/alerts/test`, { method: "POST" })).toEqual({ sent: true, status: 200 });
		expect(received[0]).toContain("test message");
		hookStatus = 404;
		const failed = await adminJson<{ error: { code: string; message: string } }>(`/api/destinations/${id}/alerts/test`, { method: "POST" }, 502);
		// Only the status class: the exact status would let the webhook setting probe what answers (test/alerts/webhook-targets.test.ts).
		expect(failed.error.message).toContain("HTTP 4xx");
	});
});
