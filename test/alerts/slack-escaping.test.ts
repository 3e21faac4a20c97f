import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { evaluateAlerts } from "../../src/alerts/evaluate";
import { adminJson, connectDestination, createDestination, gateAccessToken, outreachFaults, resetOutreach } from "../helpers/control";

/**
 * Alert messages go to Slack-compatible webhooks, where `<!channel>`, `<@U123>` and `<url|label>` are
 * markup: a destination name (or an Outreach user's email) carrying them would ping a whole channel or
 * disguise a link. User text in a message is escaped the Slack way (&, <, > → &amp;, &lt;, &gt;), so it
 * shows as typed; the Worker's own link markup stays.
 */

const HOOK = "https://hooks.example.test/services/T000/B000/slack";
const NAME = "<!channel> EU & <@U123> <https://evil.example|click>";
const ESCAPED_NAME = "&lt;!channel&gt; EU &amp; &lt;@U123&gt; &lt;https://evil.example|click&gt;";
const EMAIL = "<!here>rep@example.com";

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

/** Slack markup in `text` other than the Worker's own console link. */
function markup(text: string): string[] {
	return (text.match(/<[^>]*>/g) ?? []).filter((m) => !/^<https?:\/\/localhost:8787\/destinations\/[^|>]+\|Open the console>$/.test(m));
}

describe("alert messages", () => {
	it("escape the destination's name in the test message", async () => {
		const { id } = await createDestination({ name: NAME });
		await adminJson(`/api/destinations/${id}/alerts`, { method: "PUT", json: { webhookUrl: HOOK, conditions: { connectionLost: true } } });
		await adminJson(`/api/destinations/${id}/alerts/test`, { method: "POST" });
		expect(received).toHaveLength(1);
		expect(received[0]).toContain(ESCAPED_NAME);
		expect(markup(received[0]!)).toEqual([]);
	});

	it("escape the destination's name and the Outreach user's email in an alert, keeping the console link", async () => {
		await resetOutreach({ users: [{ id: 1, email: EMAIL, password: "outreach" }] });
		const { id } = await createDestination({ name: NAME });
		await connectDestination(id, { email: EMAIL });
		await adminJson(`/api/destinations/${id}/alerts`, { method: "PUT", json: { webhookUrl: HOOK, conditions: { connectionLost: true } } });
		// Lose the connection the way a revoked grant does.
		const current = await gateAccessToken(id, { gate: "1" });
		if (!current.ok) throw new Error("expected a working connection first");
		await outreachFaults({ revokeAllTokens: true });
		await gateAccessToken(id, { rejected: current.token, gate: "1" });
		await outreachFaults({});

		await evaluateAlerts(env, Date.now());
		expect(received).toHaveLength(1);
		expect(received[0]).toContain(ESCAPED_NAME);
		expect(received[0]).toContain("&lt;!here&gt;rep@example.com");
		expect(markup(received[0]!)).toEqual([]);
		expect(received[0]).toMatch(/<http:\/\/localhost:8787\/destinations\/[^|>]+\|Open the console>/);
	});
});
