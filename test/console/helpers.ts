import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";

/**
 * Helpers for console tests: a browser-like client that keeps the session cookie, sends form posts with the
 * headers a same-origin browser form sends, and reads the CSRF token out of a page.
 */

export const ORIGIN = "http://localhost";

export type Browser = { cookie: string | null };

/** The `name=value` part of a Set-Cookie header, or null. */
export function cookiePair(res: Response): string | null {
	const set = res.headers.get("Set-Cookie");
	return set ? set.split(";")[0]! : null;
}

export function get(path: string, browser?: Browser, headers: HeadersInit = {}): Promise<Response> {
	const h = new Headers(headers);
	if (browser?.cookie) h.set("Cookie", browser.cookie);
	return SELF.fetch(`${ORIGIN}${path}`, { headers: h, redirect: "manual" });
}

/** A form post as a same-origin browser sends it (Origin and Sec-Fetch-Site included). */
export function post(path: string, fields: Record<string, string>, browser?: Browser, headers: HeadersInit = {}): Promise<Response> {
	const h = new Headers({ Origin: ORIGIN, "Sec-Fetch-Site": "same-origin", ...Object.fromEntries(new Headers(headers)) });
	if (browser?.cookie) h.set("Cookie", browser.cookie);
	return SELF.fetch(`${ORIGIN}${path}`, { method: "POST", body: new URLSearchParams(fields), headers: h, redirect: "manual" });
}

/** Signs in with the admin token; answers a browser holding the session cookie. */
export async function signInConsole(): Promise<Browser> {
	const res = await post("/signin", { token: env.ADMIN_TOKEN, next: "/" });
	expect(res.status, await res.clone().text()).toBe(303);
	const cookie = cookiePair(res);
	expect(cookie).toBeTruthy();
	return { cookie };
}

/** The CSRF token of the forms on `html`. */
export function csrfOf(html: string): string {
	const m = /name="_csrf" value="([^"]+)"/.exec(html);
	expect(m, "the page has a CSRF field").toBeTruthy();
	return m![1]!;
}

/** GETs a page expecting 200; answers its HTML and CSRF token. */
export async function page(path: string, browser: Browser): Promise<{ html: string; csrf: string; res: Response }> {
	const res = await get(path, browser);
	const html = await res.text();
	expect(res.status, `${path} answered ${res.status}: ${html.slice(0, 500)}`).toBe(200);
	return { html, csrf: csrfOf(html), res };
}

/** Posts a form with the CSRF token of `path`'s page. */
export async function submit(path: string, fields: Record<string, string>, browser: Browser, from = "/"): Promise<Response> {
	const { csrf } = await page(from, browser);
	return post(path, { ...fields, _csrf: csrf }, browser);
}

/** Visible text of an HTML fragment (tags dropped, entities for quotes decoded), for loose assertions. */
export function text(html: string): string {
	return html
		.replace(/<script[\s\S]*?<\/script>/g, "")
		.replace(/<[^>]+>/g, " ")
		.replace(/&#39;|&#x27;/g, "'")
		.replace(/&quot;/g, '"')
		.replace(/&amp;/g, "&")
		.replace(/&lt;/g, "<")
		.replace(/&gt;/g, ">")
		.replace(/\s+/g, " ");
}
