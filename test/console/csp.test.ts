import { describe, expect, it } from "vitest";
import { consoleApp } from "../../src/console/index";
import { createDestination } from "../helpers/control";
import { get, post, signInConsole } from "./helpers";

/**
 * Every response of the console's pages — enumerated from its router, signed in or not, pages, redirects and
 * refusals — carries the Content-Security-Policy (test/console checks its directives on a few pages).
 */

const ASSETS = new Set(["/console.css", "/console.js", "/favicon.svg"]);
const pages = [...new Set(consoleApp.routes.filter((r) => r.method === "GET" && !ASSETS.has(r.path) && !r.path.includes("*")).map((r) => r.path))];
const posts = [...new Set(consoleApp.routes.filter((r) => r.method === "POST").map((r) => r.path))];

function expectCsp(res: Response, what: string) {
	const csp = res.headers.get("Content-Security-Policy") ?? "";
	expect(csp, `${what} (${res.status}) carries the CSP`).toContain("default-src 'none'");
	expect(csp, what).toContain("frame-ancestors 'none'");
	expect(csp, what).not.toContain("unsafe-inline");
}

describe("the console's Content-Security-Policy", () => {
	it("is on every page, signed in and signed out", async () => {
		expect(pages).toEqual(expect.arrayContaining(["/", "/signin", "/destinations/:id"]));
		const { id } = await createDestination({ name: "CSP" });
		const browser = await signInConsole();
		for (const path of pages) {
			const url = path.replace(/:id\b/g, id);
			expectCsp(await get(url), `GET ${url} without a session`);
			expectCsp(await get(url, browser), `GET ${url} signed in`);
		}
		expectCsp(await get(`/destinations/no-such-destination`, browser), "an unknown destination's page");
	});

	it("is on the answers to form posts too, including refused ones", async () => {
		expect(posts.length).toBeGreaterThan(3);
		const { id } = await createDestination({ name: "CSP posts" });
		const browser = await signInConsole();
		for (const path of posts) {
			const url = path.replace(/:id\b/g, id);
			// No CSRF token: refused (or sent to sign in), and still under the policy.
			expectCsp(await post(url, {}, browser), `POST ${url} without a CSRF token`);
			expectCsp(await post(url, {}), `POST ${url} without a session`);
		}
	});
});
