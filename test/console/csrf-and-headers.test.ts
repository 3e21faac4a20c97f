import { describe, expect, it } from "vitest";
import { get, page, post, signInConsole } from "./helpers";

describe("console CSRF protection", () => {
	it("refuses a form post without the CSRF token (403) and changes nothing", async () => {
		const browser = await signInConsole();
		const res = await post("/destinations", { name: "No token" }, browser);
		expect(res.status).toBe(403);
		expect(await res.text()).toContain("This form has expired");
		const list = await page("/", browser);
		expect(list.html).not.toContain("No token");
	});

	it("refuses a wrong CSRF token, and one from another session", async () => {
		const a = await signInConsole();
		const b = await signInConsole();
		const { csrf: tokenOfB } = await page("/", b);
		expect((await post("/destinations", { name: "x", _csrf: "wrong" }, a)).status).toBe(403);
		expect((await post("/destinations", { name: "x", _csrf: tokenOfB }, a)).status).toBe(403);
	});

	it("accepts the session's token", async () => {
		const browser = await signInConsole();
		const { csrf } = await page("/", browser);
		const res = await post("/destinations", { name: "With token", description: "", _csrf: csrf }, browser);
		expect(res.status).toBe(200);
	});

	it("refuses a cross-site form post even with a valid token (origin check)", async () => {
		const browser = await signInConsole();
		const { csrf } = await page("/", browser);
		const res = await post("/destinations", { name: "x", _csrf: csrf }, browser, { Origin: "https://evil.example", "Sec-Fetch-Site": "cross-site" });
		expect(res.status).toBe(403);
	});

	it("puts every form's CSRF token in a hidden field", async () => {
		const browser = await signInConsole();
		const { html } = await page("/destinations/new", browser);
		const forms = html.match(/<form[\s\S]*?<\/form>/g) ?? [];
		expect(forms.length).toBeGreaterThan(1);
		for (const form of forms) expect(form).toMatch(/<input type="hidden" name="_csrf" value="[A-Za-z0-9_-]{43}"\/>/);
	});
});

describe("console security headers", () => {
	it("sends a strict Content-Security-Policy on the sign-in page and on console pages", async () => {
		const browser = await signInConsole();
		for (const res of [await get("/signin"), await get("/", browser), await get("/destinations/new", browser)]) {
			const csp = res.headers.get("Content-Security-Policy") ?? "";
			expect(csp).toContain("default-src 'none'");
			expect(csp).toContain("script-src 'self'");
			expect(csp).toContain("style-src 'self'");
			expect(csp).toContain("frame-ancestors 'none'");
			expect(csp).toMatch(/form-action 'self' http:\/\/127\.0\.0\.1:\d+/); // the local Outreach's sign-in
			expect(csp).not.toContain("unsafe-inline");
			expect(csp).not.toContain("unsafe-eval");
			expect(res.headers.get("X-Frame-Options")).toBe("DENY");
			expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
		}
	});

	it("keeps signed-in pages out of caches", async () => {
		const browser = await signInConsole();
		expect((await get("/", browser)).headers.get("Cache-Control")).toBe("no-store");
	});

	it("has no inline script or style that the CSP would block", async () => {
		const browser = await signInConsole();
		for (const path of ["/", "/destinations/new"]) {
			const { html } = await page(path, browser);
			expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
			expect(html).not.toMatch(/\sstyle="/);
			expect(html).not.toMatch(/<style/);
			expect(html).not.toMatch(/\son[a-z]+="/);
		}
	});

	it("serves the stylesheet and the script as files", async () => {
		const css = await get("/console.css");
		expect(css.status).toBe(200);
		expect(css.headers.get("Content-Type")).toContain("text/css");
		const js = await get("/console.js");
		expect(js.status).toBe(200);
		expect(js.headers.get("Content-Type")).toContain("javascript");
	});

	it("leaves the rest of the Worker alone: unknown paths keep the JSON 404", async () => {
		const res = await get("/nope/nothing");
		expect(res.status).toBe(404);
		expect(res.headers.get("Content-Type")).toContain("application/json");
	});
});
