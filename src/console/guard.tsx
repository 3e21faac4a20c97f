import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Child } from "hono/jsx";
import { secureHeaders } from "hono/secure-headers";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { adminTokenProblem } from "../auth/admin-token";
import { config, ConfigError } from "../platform/config";
import { ACCESS_HEADER, AccessConfigError, accessConfig, verifyAccess } from "../auth/access";
import { CSRF_FIELD, csrfToken, isValidCsrfToken, readSession, type SignedIn } from "../auth/session";
import { apiClient, type ApiFailure } from "../api/client";
import { Callout } from "./components";
import type { ConsoleContext, ConsoleEnv } from "./context";
import { Brand, Document, Shell } from "./layout";

function outreachOrigin(env: Env): string {
	try {
		return new URL(config(env).OUTREACH_API_BASE).origin;
	} catch {
		return "'self'";
	}
}

/**
 * A strict CSP: scripts and styles only from this origin (served files, nothing inline), no framing, and
 * forms may post only here — plus Outreach's origin, because "Connect" redirects a form post to its sign-in.
 */
export const consoleHeaders = secureHeaders({
	contentSecurityPolicy: {
		defaultSrc: ["'none'"],
		scriptSrc: ["'self'"],
		styleSrc: ["'self'"],
		imgSrc: ["'self'", "data:"],
		connectSrc: ["'self'"],
		formAction: ["'self'", (c) => outreachOrigin((c as Context<{ Bindings: Env }>).env)],
		frameAncestors: ["'none'"],
		baseUri: ["'none'"],
	},
	xFrameOptions: "DENY",
	referrerPolicy: "same-origin",
});

function executionCtx(c: Context) {
	try {
		return c.executionCtx;
	} catch {
		return undefined; // in-process calls in tests have none
	}
}

const SAFE = /^(GET|HEAD|OPTIONS)$/;

/** A bare page for when there is no session to show a full console around. */
export function barePage(c: Context, status: ContentfulStatusCode, title: string, body: Child) {
	return c.html(
		<Document title={title}>
			<div class="signin-wrap">
				<div class="signin">
					<Brand />
					<div class="card">
						<h1>{title}</h1>
						{body}
					</div>
				</div>
			</div>
		</Document>,
		status,
	);
}

/**
 * Every console page and form: a valid session (else a redirect to sign-in), and on every form post the
 * session's CSRF token (else 403). Sets `session`, `csrf` and the in-process API `client`.
 */
export const requireSession = createMiddleware<ConsoleEnv>(async (c, next) => {
	const problem = adminTokenProblem(c.env);
	if (problem) return barePage(c, 500, "The console is not configured", <p>{problem}</p>);
	let session: SignedIn | null;
	try {
		// Behind Cloudflare Access every request carries the person's JWT: it is the session (checked each time).
		const jwt = accessConfig(c.env) ? c.req.header(ACCESS_HEADER) : undefined;
		if (jwt) {
			const access = await verifyAccess(c.env, jwt);
			if (!access.ok) return barePage(c, 403, "No entry", <p>{access.reason}</p>);
			session = { id: access.sessionId, expiresAt: access.expiresAt, principal: access.principal };
		} else session = await readSession(c);
	} catch (err) {
		if (err instanceof ConfigError || err instanceof AccessConfigError) return barePage(c, 500, "The console is not configured", <p>{err.message}</p>);
		throw err;
	}
	if (!session) {
		const url = new URL(c.req.url);
		const back = SAFE.test(c.req.method) ? url.pathname + url.search : "/";
		return c.redirect(`/signin?next=${encodeURIComponent(back)}`, 303);
	}
	c.set("session", session);
	c.set("csrf", await csrfToken(c.env, session.id));
	c.set("principal", session.principal);
	c.set("client", apiClient(c.env, new URL(c.req.url).origin, session.principal, executionCtx(c)));
	if (!SAFE.test(c.req.method)) {
		const body = await c.req.parseBody();
		if (!(await isValidCsrfToken(c.env, session.id, body[CSRF_FIELD])))
			return barePage(
				c,
				403,
				"This form has expired",
				<>
					<p>The form was missing its security token, or it came from another page or an older session.</p>
					<p>
						<a href="/">Go back to the console</a> and submit it again.
					</p>
				</>,
			);
	}
	await next();
	c.header("Cache-Control", "no-store");
});

/** A console page with a message instead of content (not found, or the API refused). */
export function messagePage(c: ConsoleContext, status: ContentfulStatusCode, title: string, body: Child) {
	return c.html(
		<Shell title={title} csrf={c.var.csrf} principal={c.var.principal}>
			<div class="crumbs">
				<a href="/">Destinations</a>
			</div>
			<div class="page-head">
				<h1>{title}</h1>
			</div>
			{body}
		</Shell>,
		status,
	);
}

/** Renders an API failure as a page that says what to do. */
export function failurePage(c: ConsoleContext, failure: ApiFailure) {
	if (failure.status === 404)
		return messagePage(
			c,
			404,
			"Not found",
			<Callout tone="warn" title={failure.message}>
				<p>
					It may have been deleted. <a href="/">See all destinations</a>.
				</p>
			</Callout>,
		);
	if (failure.status === 403)
		return messagePage(
			c,
			403,
			"Not allowed",
			<Callout tone="warn" title={failure.message}>
				<p>
					Your role does not allow this. Ask someone with that role to do it, or to give you a key with that role. <a href="/">Back to the console</a>.
				</p>
			</Callout>,
		);
	const status = (failure.status >= 400 && failure.status <= 599 ? failure.status : 500) as ContentfulStatusCode;
	return messagePage(
		c,
		status,
		"Something went wrong",
		<Callout tone="bad" title={failure.message}>
			<p>Reload the page to try again. If it keeps happening, watch the Worker's logs with <code>wrangler tail --format json</code>.</p>
		</Callout>,
	);
}
