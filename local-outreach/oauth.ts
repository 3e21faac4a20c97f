import { Hono, type Context } from "hono";
import { randomBytes } from "node:crypto";
import { IncomingMessage } from "node:http";
import { z } from "zod";
import { errorPage, signInPage, type AuthorizeRequest } from "./pages.ts";
import { tokenState, type Client, type Token, type World } from "./state.ts";

// Outreach's OAuth 2 authorization-code grant: a person signs in and approves, the client swaps the code for
// an access token (short-lived) and a refresh token (14 days, rotated on every use).

const CODE_TTL_MS = 10 * 60 * 1000;
const REFRESH_TTL_MS = 14 * 24 * 3600 * 1000;

const secret = (bytes: number) => randomBytes(bytes).toString("base64url");

const authorizeParams = z.object({
	client_id: z.string().default(""),
	redirect_uri: z.string().default(""),
	response_type: z.string().default(""),
	scope: z.string().default(""),
	state: z.string().default(""),
});

const signInParams = authorizeParams.extend({
	email: z.string().default(""),
	password: z.string().default(""),
	decision: z.string().default("approve"),
});

/** Form fields as strings only (an uploaded file is not a credential). */
function stringsOf(record: Record<string, unknown>): Record<string, string> {
	return Object.fromEntries(Object.entries(record).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
}

function withParams(uri: string, params: Record<string, string>): string {
	const url = new URL(uri);
	for (const [name, value] of Object.entries(params)) if (value) url.searchParams.set(name, value);
	return url.href;
}

const isWebUrl = (text: string) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol);

type Vetted = { ok: true; request: AuthorizeRequest } | { ok: false; title: string; message: string };

/**
 * The authorize request when its client and redirect_uri are good, else why not (a 400 page): never redirect
 * to a URI that was not vouched for, or the sign-in becomes an open redirect.
 */
function vetAuthorize(world: World, params: z.infer<typeof authorizeParams>): Vetted {
	const client = world.clients.get(params.client_id);
	if (!client)
		return { ok: false, title: "Unknown application", message: `No application is registered with client_id '${params.client_id}'.` };
	if (!isWebUrl(params.redirect_uri) || (client.redirectUris && !client.redirectUris.includes(params.redirect_uri)))
		return { ok: false, title: "Invalid redirect URI", message: `'${params.redirect_uri}' is not a redirect URI registered for this application.` };
	const scope = params.scope.split(/\s+/).filter(Boolean).join(" ");
	return { ok: true, request: { clientId: client.clientId, redirectUri: params.redirect_uri, responseType: params.response_type, scope, state: params.state } };
}

function unsupportedResponseType(c: Context, request: AuthorizeRequest): Response | null {
	if (request.responseType === "code") return null;
	return c.redirect(withParams(request.redirectUri, { error: "unsupported_response_type", state: request.state }), 302);
}

function mint(world: World, type: Token["type"], grant: Pick<Token, "userId" | "clientId" | "scope">, ttlMs: number, now: number): Token {
	const { userId, clientId, scope } = grant;
	const token: Token = { type, value: secret(32), userId, clientId, scope, createdAt: now, expiresAt: now + ttlMs, state: "active" };
	world.tokens.set(token.value, token);
	return token;
}

function issueTokens(world: World, grant: Pick<Token, "userId" | "clientId" | "scope">) {
	const now = Date.now();
	const access = mint(world, "access", grant, world.accessTokenTtlSeconds * 1000, now);
	const refresh = mint(world, "refresh", grant, REFRESH_TTL_MS, now);
	return {
		access_token: access.value,
		token_type: "bearer",
		expires_in: world.accessTokenTtlSeconds,
		refresh_token: refresh.value,
		scope: grant.scope,
		created_at: Math.floor(now / 1000),
	};
}

/** The token request's parameters: form-encoded as OAuth says, or JSON, which Outreach also takes. */
async function tokenParams(c: Context): Promise<Record<string, string>> {
	if ((c.req.header("Content-Type") ?? "").toLowerCase().includes("json")) {
		const body: unknown = await c.req.json().catch(() => null);
		return body && typeof body === "object" && !Array.isArray(body) ? stringsOf(body as Record<string, unknown>) : {};
	}
	return stringsOf(await c.req.parseBody().catch(() => ({})));
}

/** Basic credentials are form-encoded (RFC 6749 §2.3.1); a malformed one simply fails to match. */
function formDecode(text: string): string {
	try {
		return decodeURIComponent(text.replace(/\+/g, " "));
	} catch {
		return "";
	}
}

/** The client the request authenticates as (HTTP Basic or client_id/client_secret in the body), if any. */
function authenticateClient(c: Context, world: World, params: Record<string, string>): Client | undefined {
	let id = params.client_id;
	let key = params.client_secret;
	const basic = /^Basic\s+(\S+)$/i.exec(c.req.header("Authorization") ?? "");
	if (basic) {
		const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
		const colon = decoded.indexOf(":");
		if (colon >= 0) {
			id = formDecode(decoded.slice(0, colon));
			key = formDecode(decoded.slice(colon + 1));
		}
	}
	const client = id ? world.clients.get(id) : undefined;
	return client && key !== undefined && client.clientSecret === key ? client : undefined;
}

/**
 * Drops the request's connection without an answer, as a network failure between Outreach and the client
 * would. Only a request served by @hono/node-server has a socket to drop; anything else cannot lose an answer.
 */
function dropConnection(c: Context): void {
	const env: unknown = c.env;
	const incoming = env && typeof env === "object" && "incoming" in env ? env.incoming : undefined;
	if (!(incoming instanceof IncomingMessage)) throw new Error("tokenAnswerLost needs the Node server: there is no connection to drop");
	incoming.socket.destroy();
}

export function oauthRoutes(world: World): Hono {
	const oauth = new Hono();

	oauth.get("/authorize", (c) => {
		const vetted = vetAuthorize(world, authorizeParams.parse(c.req.query()));
		if (!vetted.ok) return c.html(errorPage(vetted.title, vetted.message), 400);
		return unsupportedResponseType(c, vetted.request) ?? c.html(signInPage(vetted.request, ""));
	});

	oauth.post("/authorize", async (c) => {
		const form = signInParams.parse(stringsOf(await c.req.parseBody().catch(() => ({}))));
		const vetted = vetAuthorize(world, form);
		if (!vetted.ok) return c.html(errorPage(vetted.title, vetted.message), 400);
		const request = vetted.request;
		const unsupported = unsupportedResponseType(c, request);
		if (unsupported) return unsupported;
		if (form.decision === "decline") return c.redirect(withParams(request.redirectUri, { error: "access_denied", state: request.state }), 302);
		const email = form.email.trim().toLowerCase();
		const user = [...world.users.values()].find((u) => u.email.toLowerCase() === email && u.password === form.password);
		if (!user) return c.html(signInPage(request, form.email, "Wrong email or password."), 401);
		const code = secret(24);
		world.codes.set(code, {
			userId: user.id,
			clientId: request.clientId,
			redirectUri: request.redirectUri,
			scope: request.scope,
			expiresAt: Date.now() + CODE_TTL_MS,
			used: false,
		});
		return c.redirect(withParams(request.redirectUri, { code, state: request.state }), 302);
	});

	// The fault is claimed when the request arrives and applied after the handler has done its work (a code
	// used, a refresh token rotated, tokens minted): the client never learns the outcome of a request that
	// took effect.
	oauth.post("/token", async (c, next) => {
		if (world.faults.tokenAnswerLost <= 0) return next();
		world.faults.tokenAnswerLost -= 1;
		await next();
		dropConnection(c);
	});

	oauth.post("/token", async (c) => {
		c.header("Cache-Control", "no-store");
		const params = await tokenParams(c);
		const client = authenticateClient(c, world, params);
		if (!client) return c.json({ error: "invalid_client", error_description: "Client authentication failed." }, 401);
		const invalidGrant = (description: string) => c.json({ error: "invalid_grant", error_description: description }, 400);
		const missing = (name: string) => c.json({ error: "invalid_request", error_description: `'${name}' is required.` }, 400);

		if (params.grant_type === "authorization_code") {
			if (!params.code) return missing("code");
			if (!params.redirect_uri) return missing("redirect_uri");
			const code = world.codes.get(params.code);
			if (!code || code.clientId !== client.clientId) return invalidGrant("The authorization code is unknown.");
			if (code.used) return invalidGrant("The authorization code was already used.");
			if (Date.now() >= code.expiresAt) return invalidGrant("The authorization code has expired.");
			if (code.redirectUri !== params.redirect_uri) return invalidGrant("The redirect_uri does not match the one the code was issued to.");
			code.used = true;
			world.stats.tokenGrants.authorization_code += 1;
			return c.json(issueTokens(world, code));
		}

		if (params.grant_type === "refresh_token") {
			if (!params.refresh_token) return missing("refresh_token");
			const old = world.tokens.get(params.refresh_token);
			if (!old || old.type !== "refresh" || old.clientId !== client.clientId) return invalidGrant("The refresh token is unknown.");
			const state = tokenState(old, Date.now());
			if (state !== "active") return invalidGrant(`The refresh token is ${state}.`);
			// Rotation: the old refresh token dies as its successor is born.
			old.state = "used";
			world.stats.tokenGrants.refresh_token += 1;
			return c.json(issueTokens(world, old));
		}

		return c.json({ error: "unsupported_grant_type", error_description: `grant_type '${params.grant_type ?? ""}' is not supported.` }, 400);
	});

	return oauth;
}
