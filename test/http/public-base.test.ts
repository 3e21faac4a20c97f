import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import { cookiePair } from "../console/helpers";
import { createDestination } from "../helpers/control";

/**
 * Without PUBLIC_BASE_URL the ingest URL and the OAuth redirect URI follow the request's Host header. In a
 * deployment (OUTREACH_API_BASE is Outreach, not the local one) the Worker says so: a warning on the
 * console's destinations list, destination and Set up AEP pages, and one `public_base_url_missing` log line
 * per isolate. Local development (`npm start`, these tests) stays quiet.
 */

/** The same Worker and bindings configured as a deployment that left PUBLIC_BASE_URL empty. */
const deployed = { ...env, OUTREACH_API_BASE: "https://api.outreach.io", PUBLIC_BASE_URL: "" };
/** `npm start`: the local Outreach, and PUBLIC_BASE_URL empty too. */
const local = { ...env, PUBLIC_BASE_URL: "" };

async function signedInGet(vars: Env, path: string, headers: HeadersInit = {}): Promise<Response> {
	const signin = await app.fetch(
		new Request("http://worker.example/signin", {
			method: "POST",
			body: new URLSearchParams({ token: env.ADMIN_TOKEN, next: "/" }),
			headers: { Origin: "http://worker.example", "Sec-Fetch-Site": "same-origin", "CF-Connecting-IP": "192.0.2.60" },
		}),
		vars,
	);
	expect(signin.status).toBe(303);
	return app.fetch(new Request(`http://worker.example${path}`, { headers: { Cookie: cookiePair(signin)!, ...headers } }), vars);
}

afterEach(() => vi.restoreAllMocks());

describe("an empty PUBLIC_BASE_URL", () => {
	it("is logged once per isolate in a deployment, with the host links follow", async () => {
		const warn = vi.spyOn(console, "warn");
		for (let i = 0; i < 3; i++) expect((await app.fetch(new Request("http://worker.example/healthz"), deployed)).status).toBe(200);
		const lines = warn.mock.calls.map((c) => c[0] as { event?: string; host?: string }).filter((l) => l?.event === "public_base_url_missing");
		expect(lines).toHaveLength(1);
		expect(lines[0]!.host).toBe("worker.example");
	});

	it("is shown on the destinations list, a destination's page and Set up AEP in a deployment", async () => {
		const { id } = await createDestination({ name: "Host header" });
		for (const path of ["/", `/destinations/${id}`, `/destinations/${id}/setup`]) {
			const html = await (await signedInGet(deployed, path)).text();
			expect(html, path).toContain('data-testid="public-base-url-missing"');
			expect(html, path).toContain("PUBLIC_BASE_URL is not set");
		}
		// What it warns about: the ingest URL follows the Host header.
		const res = await app.fetch(new Request(`http://worker.example/api/destinations/${id}`, { headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}` } }), deployed);
		expect(((await res.json()) as { ingestUrl: string }).ingestUrl).toBe(`http://worker.example/ingest/${id}`);
	});

	it("is not warned about in local development, nor when PUBLIC_BASE_URL is set", async () => {
		const { id } = await createDestination({ name: "Quiet" });
		const warn = vi.spyOn(console, "warn");
		for (const vars of [local, { ...deployed, PUBLIC_BASE_URL: "https://aep.example.com" }]) {
			for (const path of ["/", `/destinations/${id}/setup`]) expect(await (await signedInGet(vars, path)).text(), path).not.toContain("public-base-url-missing");
		}
		expect(warn.mock.calls.some((c) => (c[0] as { event?: string })?.event === "public_base_url_missing")).toBe(false);
	});
});
