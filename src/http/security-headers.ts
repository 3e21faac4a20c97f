import { createMiddleware } from "hono/factory";

/**
 * Security headers on every answer of the Worker, set in one place after the route has answered (src/app.ts
 * mounts this first, so it wraps errors and 404s too):
 * - `X-Content-Type-Options: nosniff` everywhere, so no answer is ever sniffed into something executable;
 * - `Cache-Control: no-store` on the admin API (its answers are authenticated, and some carry ingest tokens)
 *   and on every HTML page that did not choose its own caching;
 * - on HTML, a strict Content-Security-Policy and `X-Frame-Options: DENY` unless the page set its own (the
 *   console sets a richer one in src/console/guard.tsx): the OAuth callback's pages and error pages too.
 */

/** For HTML that sets no policy of its own: nothing but this origin's stylesheet and images, no framing. */
export const DEFAULT_HTML_CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export const securityHeaders = createMiddleware(async (c, next) => {
	await next();
	let headers = c.res.headers;
	try {
		headers.set("X-Content-Type-Options", "nosniff");
	} catch {
		// Headers of a fetched Response are immutable: answer a copy.
		c.res = new Response(c.res.body, c.res);
		headers = c.res.headers;
		headers.set("X-Content-Type-Options", "nosniff");
	}
	const isApi = new URL(c.req.url).pathname.startsWith("/api/");
	const isHtml = /^text\/html\b/i.test(headers.get("Content-Type") ?? "");
	if (isApi) headers.set("Cache-Control", "no-store");
	if (isHtml) {
		if (!headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
		if (!headers.has("Content-Security-Policy")) headers.set("Content-Security-Policy", DEFAULT_HTML_CSP);
		if (!headers.has("X-Frame-Options")) headers.set("X-Frame-Options", "DENY");
		if (!headers.has("Referrer-Policy")) headers.set("Referrer-Policy", "no-referrer");
	}
});
