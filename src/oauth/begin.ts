import { z } from "zod";
import { config, publicBase } from "../platform/config";
import { masterKeyBytes, randomToken } from "../platform/crypto";
import { keys, type DestinationRecord } from "../destinations/records";
import { log } from "../platform/log";
import { authorizeUrl, BULK_SCOPES, IMPORT_SCOPES } from "../outreach/oauth";

/**
 * Connecting a destination to Outreach (authorization-code grant). `beginConnect` mints a `state` — random,
 * single use, bound to the destination and to the console session that started it, valid 10 minutes — and
 * answers Outreach's authorize URL. Outreach sends the browser back to `GET /oauth/callback`, which checks
 * the state, exchanges the code, learns the user (`/users/me`) and hands the grant to that user's gate.
 * Any failure stores nothing and answers a small page (or the JSON envelope when JSON is asked for).
 */

/** How long a `state` is accepted. */
export const STATE_TTL_MS = 10 * 60_000;

/** What KV `oauth-state:<state>` holds. `createdAt` is ISO-8601; its age is checked on the callback. */
export const OAuthState = z.object({
	destinationId: z.string().min(1),
	sessionId: z.string().min(1).optional(),
	createdAt: z.string(),
});
export type OAuthState = z.infer<typeof OAuthState>;

/** The redirect URI to register at Outreach's developer portal. */
export function redirectUri(env: Env, requestUrl: string): string {
	return `${publicBase(env, requestUrl)}/oauth/callback`;
}

/**
 * Starts connecting `destinationId`: stores a fresh state and answers Outreach's authorize URL. The console
 * passes its session id, so only the browser session that started the flow can finish it.
 */
export async function beginConnect(env: Env, requestUrl: string, destination: Pick<DestinationRecord, "id" | "bulkApi">, sessionId?: string): Promise<string> {
	const destinationId = destination.id;
	// Configuration the callback will need is checked now, before the user is sent to sign in for nothing.
	masterKeyBytes(env);
	const state = randomToken();
	const url = authorizeUrl(env, redirectUri(env, requestUrl), state, scopesFor(env, destination)); // checks the client id too
	const record: OAuthState = { destinationId, ...(sessionId ? { sessionId } : {}), createdAt: new Date().toISOString() };
	await env.CONFIG.put(keys.oauthState(state), JSON.stringify(record), { expirationTtl: STATE_TTL_MS / 1000 });
	log("info", "oauth_started", { destinationId });
	return url;
}

/** The scopes to ask for: the configured ones, plus the batches and imports scopes when the destination uses the bulk paths. */
export function scopesFor(env: Env, destination: Pick<DestinationRecord, "bulkApi">): string {
	const scopes = new Set(config(env).OUTREACH_SCOPES.split(/\s+/).filter(Boolean));
	if (destination.bulkApi) for (const s of [...BULK_SCOPES, ...IMPORT_SCOPES]) scopes.add(s);
	return [...scopes].join(" ");
}
