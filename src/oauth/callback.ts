import { Hono, type Context } from "hono";
import { html } from "hono/html";
import { z } from "zod";
import { config, publicBase } from "../platform/config";
import { masterKeyBytes, randomToken } from "../platform/crypto";
import { destinationStore, destinationView, keys, type DestinationRecord } from "../destinations/records";
import { ApiError, errorBody } from "../platform/errors";
import { awaitConfirmation, connect, connectionOf } from "./connection";
import { ledgerStub } from "../ledger/ledger";
import { log } from "../platform/log";
import { getMe } from "../outreach/api";
import { exchangeCode } from "../outreach/oauth";
import { OAuthState, STATE_TTL_MS, redirectUri } from "./begin";
import { readSession, readSessionId } from "../auth/session";
import { actorName } from "../auth/principal";
import { auditStub } from "../audit/audit";

/** Why a callback was refused: a stable code for clients and tests, and a sentence for people. */
type Refusal = { reason: string; message: string; destinationId?: string };

class CallbackRefused extends Error {
	constructor(readonly refusal: Refusal) {
		super(refusal.message);
	}
}

function refuse(reason: string, message: string, destinationId?: string): never {
	throw new CallbackRefused({ reason, message, ...(destinationId ? { destinationId } : {}) });
}

const START_AGAIN = "Start again with Connect on the destination's page.";

const CallbackQuery = z.object({
	code: z.string().min(1).max(2048).optional(),
	state: z.string().min(1).max(256).optional(),
	error: z.string().max(256).optional(),
	error_description: z.string().max(1024).optional(),
});

export const oauthApp = new Hono<{ Bindings: Env }>();

oauthApp.get("/callback", async (c) => {
	try {
		return await completeConnect(c);
	} catch (err) {
		if (err instanceof CallbackRefused) return refusedResponse(c, err.refusal);
		throw err;
	}
});

async function completeConnect(c: Context<{ Bindings: Env }>): Promise<Response> {
	const q = CallbackQuery.safeParse(c.req.query());
	if (!q.success) refuse("bad_request", `The sign-in answer from Outreach is malformed. ${START_AGAIN}`);
	const { code, state, error, error_description } = q.data;

	if (error) {
		// The flow is over: spend the state, and link the page back to its destination when the state is ours.
		const declinedFor = state ? await spendState(c, state) : undefined;
		if (error === "access_denied") refuse("access_denied", `Access was declined at Outreach, so nothing was connected. ${START_AGAIN}`, declinedFor);
		refuse("outreach_error", `Outreach did not authorize the connection (${error}${error_description ? `: ${error_description}` : ""}). ${START_AGAIN}`, declinedFor);
	}
	if (!state) refuse("state_missing", `The sign-in answer carries no state, so it cannot be trusted. ${START_AGAIN}`);

	const saved = await readState(c.env, state);
	const destinationId = saved.destinationId;
	if (Date.now() - Date.parse(saved.createdAt) > STATE_TTL_MS || Number.isNaN(Date.parse(saved.createdAt)))
		refuse("state_expired", `This sign-in took longer than 10 minutes and has expired. ${START_AGAIN}`, destinationId);
	const destination = await destinationStore(c.env).get(destinationId);
	if (!destination) refuse("destination_missing", "The destination this sign-in was for no longer exists.");
	// The session check comes before the claim, so a stranger holding the link cannot burn the owner's state.
	if (saved.sessionId !== undefined && (await readSessionId(c)) !== saved.sessionId)
		refuse("session_mismatch", `This sign-in was started in another browser session. ${START_AGAIN}`, destinationId);
	// KV is eventually consistent, so single use is decided by the destination's ledger (strongly consistent).
	if (!(await ledgerStub(c.env, destinationId).claimOnce(keys.oauthState(state), STATE_TTL_MS)))
		refuse("state_reused", `This sign-in answer was already used. ${START_AGAIN}`, destinationId);
	await c.env.CONFIG.delete(keys.oauthState(state));
	if (!code) refuse("code_missing", `Outreach sent no authorization code. ${START_AGAIN}`, destinationId);

	const env = c.env;
	const exchanged = await exchangeCode(env, code, redirectUri(env, c.req.url));
	if (!exchanged.ok) refuse("exchange_failed", `Outreach did not accept the sign-in: ${exchanged.reason} ${START_AGAIN}`, destinationId);
	const grant = exchanged.grant;
	const calledAt = Date.now();
	const me = await getMe(config(env).OUTREACH_API_BASE, grant.accessToken);
	if (!("email" in me))
		refuse(
			"user_lookup_failed",
			`Signed in, but Outreach would not say who the user is (${me.status === 403 ? "the users.read scope is missing" : `status ${me.status}`}). ${START_AGAIN}`,
			destinationId,
		);
	const user = me;

	const record = await ledgerStub(env, destinationId).destination(destinationId);
	if (!record) refuse("destination_missing", "The destination this sign-in was for no longer exists.");
	const base = publicBase(env, c.req.url);
	if (saved.sessionId === undefined) {
		// Started through the API, bound to no browser session: whoever completed it must be confirmed by an admin.
		const waiting = await awaitConfirmation(env, record, user, grant, calledAt);
		await audit(env, "an API-started sign-in", destinationId, `Outreach sign-in by user ${user.id} (${user.email}) waits for confirmation`);
		if (wantsJson(c)) return c.json({ connected: false, destination: destinationView(waiting, await connectionOf(env, waiting), base) }, 200, noCache);
		return c.redirect(`/destinations/${encodeURIComponent(destinationId)}?confirm=1`, 302);
	}
	const before = await connectionOf(env, record);
	const connected = await connect(env, record, user, grant, calledAt);
	// Connecting (or reconnecting as another Outreach user) from the console is a change like any other.
	const who = await readSession(c).catch(() => null);
	await audit(
		env,
		who ? actorName(who.principal) : "console session",
		destinationId,
		`connection: ${before ? `Outreach user ${before.user.id} (${before.user.email}, ${before.status})` : "not connected"} → Outreach user ${user.id} (${user.email})`,
	);
	if (wantsJson(c)) return c.json({ connected: true, destination: destinationView(connected.record, connected.connection, base) }, 200, noCache);
	return c.redirect(`/destinations/${encodeURIComponent(destinationId)}?connected=1`, 302);
}

async function audit(env: Env, actor: string, destinationId: string, summary: string): Promise<void> {
	await auditStub(env).record({ at: new Date().toISOString(), actor, action: "GET /oauth/callback", destinationId, summary });
}

/** The saved state, or a refusal when it is unknown (forged, used, or past KV's expiry). */
async function readState(env: Env, state: string): Promise<OAuthState> {
	const raw = await env.CONFIG.get(keys.oauthState(state), "json").catch(() => null);
	const parsed = OAuthState.safeParse(raw);
	if (!parsed.success) return refuse("state_unknown", `This sign-in answer is unknown or has expired (a sign-in is valid once, for 10 minutes). ${START_AGAIN}`);
	return parsed.data;
}

/** Deletes a state after Outreach answered with an error; answers its destination when it was one of ours. */
async function spendState(c: Context<{ Bindings: Env }>, state: string): Promise<string | undefined> {
	const env = c.env;
	const parsed = OAuthState.safeParse(await env.CONFIG.get(keys.oauthState(state), "json").catch(() => null));
	if (!parsed.success) return undefined;
	// Checked like a success before it is spent, so a stranger holding the owner's state cannot cancel the owner's sign-in.
	const { destinationId, sessionId, createdAt } = parsed.data;
	if (!(Date.now() - Date.parse(createdAt) <= STATE_TTL_MS))
		refuse("state_expired", `This sign-in took longer than 10 minutes and has expired. ${START_AGAIN}`, destinationId);
	if (sessionId !== undefined && (await readSessionId(c)) !== sessionId)
		refuse("session_mismatch", `This sign-in was started in another browser session. ${START_AGAIN}`, destinationId);
	await ledgerStub(env, destinationId).claimOnce(keys.oauthState(state), STATE_TTL_MS);
	await env.CONFIG.delete(keys.oauthState(state));
	return destinationId;
}

function wantsJson(c: Context): boolean {
	return /\bapplication\/json\b/i.test(c.req.header("Accept") ?? "");
}

// The callback URL carries a code: keep it out of caches and of the Referer sent by links on the page.
const noCache = { "Cache-Control": "no-store", "Referrer-Policy": "no-referrer" };

function refusedResponse(c: Context, refusal: Refusal): Response | Promise<Response> {
	log("warn", "oauth_refused", { reason: refusal.reason, ...(refusal.destinationId ? { destinationId: refusal.destinationId } : {}) });
	if (wantsJson(c)) return c.json(errorBody("bad_request", refusal.message, { reason: refusal.reason }), 400, noCache);
	const back = refusal.destinationId ? `/destinations/${encodeURIComponent(refusal.destinationId)}` : "/";
	const title = refusal.reason === "access_denied" ? "Access declined" : "Could not connect to Outreach";
	return c.html(
		html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><link rel="stylesheet" href="/console.css"></head>
<body class="callback-page">
<h1>${title}</h1>
<p id="message">${refusal.message}</p>
<p><a href="${back}">Back to the console</a></p>
</body>
</html>`,
		400,
		noCache,
	);
}
