import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SESSION_COOKIE, SESSION_TTL_MS, verifySessionCookie } from "../../src/auth/session";
import { cookiePair, get, post, signInConsole, text } from "../console/helpers";

const PAGES = [
	"/",
	"/destinations/new",
	"/destinations/some-id",
	"/destinations/some-id/mapping",
	"/destinations/some-id/setup",
	"/destinations/some-id/activity",
	"/destinations/some-id/alerts",
];

describe("console sessions", () => {
	it("redirects every page to sign-in without a session, remembering where to return", async () => {
		for (const path of PAGES) {
			const res = await get(path);
			expect(res.status, path).toBe(303);
			expect(res.headers.get("Location"), path).toBe(`/signin?next=${encodeURIComponent(path)}`);
		}
	});

	it("redirects form posts without a session to sign-in, doing nothing", async () => {
		const res = await post("/destinations", { name: "Sneaky" });
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toBe("/signin?next=%2F");
	});

	it("shows the sign-in form", async () => {
		const res = await get("/signin");
		expect(res.status).toBe(200);
		const html = await res.text();
		expect(html).toContain('name="token"');
		expect(html).toContain('type="password"');
	});

	it("refuses a wrong admin token with 401 and sets no cookie", async () => {
		const res = await post("/signin", { token: "not-the-admin-token-0123456789abcdef", next: "/" });
		expect(res.status).toBe(401);
		expect(res.headers.get("Set-Cookie")).toBeNull();
		expect(text(await res.text())).toContain("not this Worker's admin token");
	});

	it("signs in with the admin token: an HttpOnly, Secure, SameSite=Lax cookie with a signed id, never the token", async () => {
		const res = await post("/signin", { token: env.ADMIN_TOKEN, next: "/destinations/new" });
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toBe("/destinations/new");
		const set = res.headers.get("Set-Cookie")!;
		expect(set).toMatch(new RegExp(`^${SESSION_COOKIE}=v1\\.[A-Za-z0-9_-]+\\.\\d+\\.[A-Za-z0-9_-]+;`));
		expect(set).toContain("HttpOnly");
		expect(set).toContain("Secure");
		expect(set).toContain("SameSite=Lax");
		expect(set).toContain("Path=/");
		expect(set).toContain(`Max-Age=${SESSION_TTL_MS / 1000}`);
		expect(set).not.toContain(env.ADMIN_TOKEN);
		expect(set).not.toContain(encodeURIComponent(env.ADMIN_TOKEN));
		expect(set).not.toMatch(/__Host-|__Secure-/); // prefixes would break http://127.0.0.1 in `npm start`

		const page = await get("/destinations/new", { cookie: cookiePair(res) });
		expect(page.status).toBe(200);
	});

	it("never redirects outside the console after sign-in", async () => {
		for (const next of ["//evil.example/", "https://evil.example/", "/\\evil.example"]) {
			const res = await post("/signin", { token: env.ADMIN_TOKEN, next });
			expect(res.headers.get("Location"), next).toBe("/");
		}
	});

	it("refuses a tampered, forged or expired session cookie", async () => {
		const { cookie } = await signInConsole();
		const value = cookie!.slice(SESSION_COOKIE.length + 1);
		const [v, id, exp, sig] = value.split(".");

		const longer = `${v}.${id}.${Number(exp) + 86_400_000}.${sig}`;
		const otherId = `${v}.${"A".repeat(id!.length)}.${exp}.${sig}`;
		for (const forged of [longer, otherId, `${v}.${id}.${exp}.`, "garbage", ""]) {
			const res = await get("/", { cookie: `${SESSION_COOKIE}=${forged}` });
			expect(res.status, forged).toBe(303);
		}
		expect(await verifySessionCookie(env, value)).not.toBeNull();
		expect(await verifySessionCookie(env, value, Date.now() + SESSION_TTL_MS + 1000)).toBeNull();
	});

	it("does not accept a cookie signed for another admin token (rotating the token signs everyone out)", async () => {
		const { cookie } = await signInConsole();
		const value = cookie!.slice(SESSION_COOKIE.length + 1);
		const rotated = { ...env, ADMIN_TOKEN: `${env.ADMIN_TOKEN}-rotated` };
		expect(await verifySessionCookie(rotated, value)).toBeNull();
	});

	it("signs out: the cookie is cleared", async () => {
		const browser = await signInConsole();
		const home = await (await get("/", browser)).text();
		const csrf = /name="_csrf" value="([^"]+)"/.exec(home)![1]!;
		const res = await post("/signout", { _csrf: csrf }, browser);
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toBe("/signin?signed_out=1");
		expect(res.headers.get("Set-Cookie")).toMatch(new RegExp(`^${SESSION_COOKIE}=;.*Max-Age=0`));
	});

	it("signs out on the server: the old cookie, copied before sign-out, no longer opens the console", async () => {
		const browser = await signInConsole();
		const copied = { cookie: browser.cookie };
		const home = await (await get("/", browser)).text();
		const csrf = /name="_csrf" value="([^"]+)"/.exec(home)![1]!;
		expect((await get("/", copied)).status, "the copy works while the session lives").toBe(200);
		expect((await post("/signout", { _csrf: csrf }, browser)).status).toBe(303);
		const after = await get("/", copied);
		expect(after.status).toBe(303);
		expect(after.headers.get("Location")).toMatch(/^\/signin/);
		const api = await get("/destinations", copied);
		expect(api.status).toBe(303);
	});

	it("redirects a signed-in visitor of /signin to the console", async () => {
		const browser = await signInConsole();
		const res = await get("/signin?next=%2Fdestinations%2Fnew", browser);
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toBe("/destinations/new");
	});
});
