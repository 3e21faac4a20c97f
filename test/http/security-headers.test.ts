import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "../../src/api/index";
import { get, signInConsole } from "../console/helpers";
import { createDestination, signIn, startConnect, type CreatedDestination } from "../helpers/control";

/**
 * Security headers on every answer of the Worker, whatever route or outcome: `X-Content-Type-Options:
 * nosniff` everywhere; `Cache-Control: no-store` on authenticated answers (the admin API, console pages);
 * and on every HTML page — the console's, the OAuth callback's, error pages — a Content-Security-Policy with
 * `frame-ancestors 'none'` and `X-Frame-Options: DENY`.
 */

let d: CreatedDestination;
beforeAll(async () => {
	d = await createDestination({ name: "Headers" });
});

const adminRoutes = [...new Map(api.routes.filter((r) => r.method !== "ALL").map((r) => [`${r.method} ${r.path}`, r])).values()];

function expectNosniff(res: Response, what: string) {
	expect(res.headers.get("X-Content-Type-Options"), `${what} (${res.status})`).toBe("nosniff");
}

function expectHtmlHeaders(res: Response, what: string) {
	expect(res.headers.get("Content-Type") ?? "", what).toMatch(/text\/html/);
	expectNosniff(res, what);
	const csp = res.headers.get("Content-Security-Policy") ?? "";
	expect(csp, `${what} carries a CSP`).toContain("default-src 'none'");
	expect(csp, what).toContain("frame-ancestors 'none'");
	expect(csp, what).not.toContain("unsafe-inline");
	expect(res.headers.get("X-Frame-Options"), what).toBe("DENY");
}

describe("security headers", () => {
	it("nosniff and no-store on every admin API answer: success, refusal, validation error, unknown id", async () => {
		for (const route of adminRoutes) {
			const path = `/api${route.path}`.replace(/:id\b/g, route.method === "DELETE" ? "no-such-destination" : d.id).replace(/\/$/, "");
			const body = ["GET", "HEAD", "DELETE"].includes(route.method) ? undefined : "{}";
			for (const authorization of [`Bearer ${env.ADMIN_TOKEN}`, undefined]) {
				const headers = new Headers({ "Content-Type": "application/json", "CF-Connecting-IP": "192.0.2.50" });
				if (authorization) headers.set("Authorization", authorization);
				const res = await SELF.fetch(`http://localhost${path}`, { method: route.method, headers, body });
				const what = `${route.method} ${path} ${authorization ? "as admin" : "without a token"}`;
				expectNosniff(res, what);
				expect(res.headers.get("Cache-Control"), `${what} (${res.status})`).toBe("no-store");
				await res.body?.cancel();
			}
		}
	});

	it("nosniff on the public JSON answers: health, ingest, unknown routes", async () => {
		const answers = [
			await SELF.fetch("http://localhost/healthz"),
			await SELF.fetch(`http://localhost/ingest/${d.id}`, { method: "POST", headers: { Authorization: `Bearer ${d.ingestToken}` }, body: "[]" }),
			await SELF.fetch(`http://localhost/ingest/${d.id}`, { method: "POST", body: "[]" }),
			await SELF.fetch("http://localhost/no/such/route"),
		];
		for (const res of answers) expectNosniff(res, res.url);
	});

	it("CSP, framing and nosniff on the OAuth callback's pages, refused or declined", async () => {
		const declined = await signIn(await startConnect(d.id), { decision: "decline" });
		const url = new URL(declined);
		for (const path of [`${url.pathname}${url.search}`, "/oauth/callback?state=forged&code=x", "/oauth/callback"]) {
			const res = await SELF.fetch(`http://localhost${path}`, { redirect: "manual" });
			expect(res.status).toBe(400);
			expectHtmlHeaders(res, path);
			expect(res.headers.get("Cache-Control")).toBe("no-store");
			// The policy allows no inline style or script, so the page must not rely on any.
			expect(await res.text()).not.toMatch(/\sstyle=|<script>|<style>/);
		}
		const json = await SELF.fetch("http://localhost/oauth/callback", { headers: { Accept: "application/json" } });
		expectNosniff(json, "the callback's JSON refusal");
	});

	it("CSP, framing, nosniff and no-store on console pages, signed in or not", async () => {
		const browser = await signInConsole();
		for (const [path, who] of [
			["/signin", undefined],
			["/", browser],
			[`/destinations/${d.id}`, browser],
			["/destinations/no-such-destination", browser],
		] as const) {
			const res = await get(path, who);
			expectHtmlHeaders(res, path);
			if (who) expect(res.headers.get("Cache-Control"), path).toBe("no-store");
		}
		expectNosniff(await get("/console.css"), "the stylesheet");
	});
});
