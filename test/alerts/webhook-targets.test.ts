import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import { admin, adminJson, createDestination } from "../helpers/control";

/**
 * Alert webhooks are posted by the Worker, so a webhook URL must not make it reach internal addresses:
 * only https on public hosts. Numeric and alias forms of private, loopback, link-local, CGNAT, multicast and
 * unspecified addresses are refused, and so are localhost names and hosts without a dot; plain
 * http://127.0.0.1 and http://localhost only in local development (OUTREACH_API_BASE at the local
 * Outreach, as with `npm start` and these tests). A redirect is never followed, and a failed test message
 * says only the class of the status the target answered.
 */

type Problem = { path: string; message: string };

const INTERNAL = [
	"https://169.254.169.254/latest/meta-data",
	"https://10.0.0.1",
	"https://10.1.2.3:8443/hook",
	"https://172.16.0.1",
	"https://192.168.1.1",
	"https://100.64.0.1",
	"https://127.1",
	"https://127.0.0.2",
	"https://0x7f.0.0.1",
	"https://0177.0.0.1",
	"https://2130706433",
	"https://0xa000001",
	"https://0.0.0.0",
	"https://0",
	"https://224.0.0.1",
	"https://255.255.255.255",
	"https://[::1]",
	"https://[::]",
	"https://[fc00::1]",
	"https://[fd12:3456::1]",
	"https://[fe80::1]",
	"https://[ff02::1]",
	"https://[::ffff:10.0.0.1]",
	"https://[::ffff:127.0.0.1]",
	"https://[::ffff:a9fe:a9fe]",
	"https://[64:ff9b::a00:1]",
	"https://LOCALHOST",
	"https://localhost.",
	"https://api.localhost",
	"https://Foo.LocalHost:8443/x",
	"https://intranet",
	"https://metadata.google.internal",
	"https://printer.local",
	"http://0177.0.0.1",
	"http://10.0.0.1",
	"http://LOCALHOST.",
	"http://LOCALHOST:9999/hook",
	"http://[::1]:9999/hook",
	"http://169.254.169.254",
	"ftp://hooks.example.com/x",
];

function putWebhook(id: string, webhookUrl: string): Promise<Response> {
	return admin(`/api/destinations/${id}/alerts`, { method: "PUT", json: { webhookUrl, conditions: { connectionLost: true } } });
}

/** The same Worker and bindings, configured like a deployment: Outreach is api.outreach.io, not local. */
const production = { ...env, OUTREACH_API_BASE: "https://api.outreach.io" };
async function putWebhookInProduction(id: string, webhookUrl: string): Promise<Response> {
	return await app.fetch(
		new Request(`http://localhost/api/destinations/${id}/alerts`, {
			method: "PUT",
			headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}`, "Content-Type": "application/json" },
			body: JSON.stringify({ webhookUrl, conditions: { connectionLost: true } }),
		}),
		production,
	);
}

async function webhookProblem(res: Response, url: string): Promise<string> {
	const text = await res.text();
	expect(res.status, `${url}: ${text}`).toBe(400);
	const problem = (JSON.parse(text) as { error: { details: Problem[] } }).error.details.find((p) => p.path === "webhookUrl");
	expect(problem, `${url}: ${text}`).toBeTruthy();
	return problem!.message;
}

afterEach(() => vi.restoreAllMocks());

describe("alert webhook URLs", () => {
	it("refuse internal, private and local addresses in every numeric and alias form", async () => {
		const { id } = await createDestination({ name: "Webhook targets" });
		const accepted: string[] = [];
		for (const url of INTERNAL) {
			const res = await putWebhook(id, url);
			if (res.status !== 400) accepted.push(`${url} → ${res.status}`);
			else expect((await webhookProblem(res, url)).length, url).toBeGreaterThan(20);
		}
		expect(accepted).toEqual([]);
		expect(await webhookProblem(await putWebhook(id, "https://169.254.169.254/"), "metadata")).toMatch(/public/);
		expect(await webhookProblem(await putWebhook(id, "https://intranet/hook"), "dotless")).toMatch(/domain/);
	});

	it("accept public https hosts, and local http only in local development", async () => {
		const { id } = await createDestination({ name: "Webhook targets ok" });
		for (const url of ["https://hooks.slack.com/services/T0/B0/x", "https://example.com:8443/hook", "https://8.8.8.8/hook", "https://[2606:4700::1111]/x"])
			expect((await putWebhook(id, url)).status, url).toBe(200);
		// These tests run against the local Outreach, which is what makes this local development.
		for (const url of ["http://127.0.0.1:9999/hook", "http://localhost:9999/hook"]) expect((await putWebhook(id, url)).status, url).toBe(200);
	});

	it("refuse http://127.0.0.1 and http://localhost in a deployment, saying they are for local development only", async () => {
		const { id } = await createDestination({ name: "Webhook targets prod" });
		for (const url of ["http://127.0.0.1:9999/hook", "http://localhost:9999/hook", "https://127.0.0.1/hook", "https://localhost/hook"])
			expect(await webhookProblem(await putWebhookInProduction(id, url), url)).toMatch(/local development/);
		expect((await putWebhookInProduction(id, "https://hooks.slack.com/services/T0/B0/x")).status).toBe(200);
	});
});

describe("the alert test message", () => {
	const HOOK = "https://hooks.example.test/services/T000/B000/secret";

	/** A receiver at HOOK answering `answer`; every other fetch (the local Outreach) passes through. */
	function receiver(answer: () => Response) {
		const realFetch = globalThis.fetch;
		const seen: { url: string; redirect: string | undefined }[] = [];
		vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
			const url = input instanceof Request ? input.url : String(input);
			if (!url.startsWith("https://hooks.example.test/")) return realFetch(input, init);
			seen.push({ url, redirect: init?.redirect ?? (input instanceof Request ? input.redirect : undefined) });
			return answer();
		});
		return seen;
	}

	it("does not follow a redirect, and says redirects are not followed", async () => {
		const { id } = await createDestination({ name: "Redirected" });
		await adminJson(`/api/destinations/${id}/alerts`, { method: "PUT", json: { webhookUrl: HOOK, conditions: { connectionLost: true } } });
		const seen = receiver(() => new Response(null, { status: 307, headers: { Location: "https://hooks.example.test/elsewhere:8080" } }));
		const res = await SELF.fetch(`http://localhost/api/destinations/${id}/alerts/test`, { method: "POST", headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}` } });
		const body = (await res.json()) as { error: { code: string; message: string } };
		expect(res.status).toBe(502);
		expect(body.error.message).toMatch(/redirects are not followed/);
		expect(seen).toEqual([{ url: HOOK, redirect: "manual" }]);
	});

	it("reports a refusal by its status class only, never the target's exact status", async () => {
		const { id } = await createDestination({ name: "Refused" });
		await adminJson(`/api/destinations/${id}/alerts`, { method: "PUT", json: { webhookUrl: HOOK, conditions: { connectionLost: true } } });
		let status = 418;
		receiver(() => new Response("internal detail", { status }));
		const teapot = await adminJson<{ error: { message: string } }>(`/api/destinations/${id}/alerts/test`, { method: "POST" }, 502);
		expect(teapot.error.message).toContain("The webhook did not accept the message (HTTP 4xx)");
		expect(teapot.error.message).not.toMatch(/418|internal detail/);
		status = 503;
		const down = await adminJson<{ error: { message: string } }>(`/api/destinations/${id}/alerts/test`, { method: "POST" }, 502);
		expect(down.error.message).toContain("(HTTP 5xx)");
		expect(down.error.message).not.toContain("503");
	});
});
