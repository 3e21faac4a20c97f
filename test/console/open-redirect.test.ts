import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { get, post, signInConsole, type Browser } from "./helpers";

/**
 * The console's `next` return path (GET and POST /signin) leads only to this origin: it is judged after the
 * URL parser has normalised it (dot segments, percent-encoded dots), because that normalised path is what
 * the Location header carries and what a browser follows.
 */

const ORIGIN = "http://localhost";

/** Paths that look local before normalisation and become `//host` (another site) after it. */
const disguised = [
	"/.//evil.example/phish",
	"/a/..//evil.example",
	"/%2e%2e//evil.example",
	"/%2E%2E//evil.example/x?y=1",
	"/./..//evil.example",
	"/a/b/../..//evil.example",
	"/.%2e//evil.example",
	"/%2e//evil.example",
];

/** A Location stays on this site: same origin once resolved, and not a scheme-relative `//` or `/\`. */
function expectSameSite(location: string | null, input: string) {
	expect(location, input).not.toBeNull();
	expect(location!.startsWith("/"), `${input} → ${location}`).toBe(true);
	expect(/^\/[/\\]/.test(location!), `${input} → ${location}`).toBe(false);
	expect(new URL(location!, ORIGIN).origin, `${input} → ${location}`).toBe(ORIGIN);
}

describe("the sign-in's return path", () => {
	it("never redirects a signed-in visitor to another site, whatever dot segments the path hides", async () => {
		const browser: Browser = await signInConsole();
		for (const next of disguised) {
			const res = await get(`/signin?next=${encodeURIComponent(next)}`, browser);
			expect(res.status, next).toBe(303);
			expectSameSite(res.headers.get("Location"), next);
		}
	});

	it("never redirects to another site after signing in with the admin token", async () => {
		for (const next of disguised) {
			const res = await post("/signin", { token: env.ADMIN_TOKEN, next });
			expect(res.status, next).toBe(303);
			expectSameSite(res.headers.get("Location"), next);
		}
	});

	it("never puts a path that leaves the site into the sign-in form", async () => {
		for (const next of disguised) {
			const html = await (await get(`/signin?next=${encodeURIComponent(next)}`)).text();
			const value = /name="next" value="([^"]*)"/.exec(html)?.[1] ?? null;
			expectSameSite(value, next);
		}
	});

	it("still returns to a genuine console path, with its query", async () => {
		const browser = await signInConsole();
		const res = await get(`/signin?next=${encodeURIComponent("/destinations/new?from=x")}`, browser);
		expect(res.headers.get("Location")).toBe("/destinations/new?from=x");
		// A dot segment that stays on the site is fine: it is followed to where it leads.
		const dotted = await get(`/signin?next=${encodeURIComponent("/a/../destinations")}`, browser);
		expect(dotted.headers.get("Location")).toBe("/destinations");
	});
});
