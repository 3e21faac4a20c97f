import { z } from "zod";
import { config, ConfigError } from "../platform/config";
import { parseTime } from "./api";

/**
 * Outreach's OAuth 2 endpoints (authorization-code grant): the authorize URL, the code exchange and the
 * refresh. Every token response is parsed here, and every failure is sorted into "the grant is lost"
 * (reconnect needed) or "try again later" — the one place that decision is made.
 */

const TIMEOUT_MS = 15_000;

/** Why a connection is lost when Outreach's answer to a refresh never arrived (or could not be read). */
export const REFRESH_ANSWER_LOST = "Outreach's answer to a token refresh was lost; reconnect to issue a new grant.";

/** Outreach's bulk API needs these besides prospects.write. */
export const BULK_SCOPES = ["batches.read", "batches.write"] as const;

/** Outreach's imports need these besides prospects.write. */
export const IMPORT_SCOPES = ["imports.read", "imports.write"] as const;

/** A grant as Outreach's token endpoint returns it, normalised. */
export type TokenGrant = { accessToken: string; refreshToken: string; expiresAt: number; scope: string };

/** A token request's outcome. `lost`: the grant is gone for good; `unavailable`: Outreach could not answer now. */
export type TokenResult =
	| { ok: true; grant: TokenGrant; rotated: boolean }
	| { ok: false; kind: "lost"; reason: string }
	| { ok: false; kind: "unavailable"; reason: string; retryAfterMs?: number };

const TokenResponse = z.object({
	access_token: z.string().min(1),
	token_type: z.string().optional(),
	expires_in: z.coerce.number().positive(),
	// Rotation is not confirmed by Outreach: without a new refresh token, the old one stays in use.
	refresh_token: z.string().min(1).optional(),
	scope: z.string().optional(),
	created_at: z.number().optional(),
});

const OAuthError = z.looseObject({ error: z.string(), error_description: z.string().optional() });

/** The app's client credentials; a ConfigError that says what to set when they are missing. */
export function clientCredentials(env: Env): { clientId: string; clientSecret: string } {
	const missing = (["OUTREACH_CLIENT_ID", "OUTREACH_CLIENT_SECRET"] as const).filter((k) => !env[k]?.trim());
	if (missing.length > 0)
		throw new ConfigError(
			`${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} not set: copy them from Outreach's developer portal with \`wrangler secret put\` (locally in .dev.vars).`,
		);
	return { clientId: env.OUTREACH_CLIENT_ID.trim(), clientSecret: env.OUTREACH_CLIENT_SECRET.trim() };
}

/** Outreach's sign-in and consent page for this app, with `state` to be returned on the redirect. */
export function authorizeUrl(env: Env, redirectUri: string, state: string, scopes = config(env).OUTREACH_SCOPES): string {
	const { clientId } = clientCredentials(env);
	const params: [string, string][] = [
		["client_id", clientId],
		["redirect_uri", redirectUri],
		["response_type", "code"],
		["scope", scopes],
		["state", state],
	];
	// encodeURIComponent, not URLSearchParams: scopes are joined by %20, as Outreach's docs show, never '+'.
	const query = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
	return `${config(env).OUTREACH_API_BASE}/oauth/authorize?${query}`;
}

/** Exchanges an authorization code for a grant. */
export function exchangeCode(env: Env, code: string, redirectUri: string): Promise<TokenResult> {
	return tokenRequest(env, { grant_type: "authorization_code", code, redirect_uri: redirectUri });
}

/** Trades a refresh token for a new grant. The refresh token must never be sent again after this call. */
export function refreshGrant(env: Env, refreshToken: string): Promise<TokenResult> {
	return tokenRequest(env, { grant_type: "refresh_token", refresh_token: refreshToken });
}

async function tokenRequest(env: Env, fields: Record<string, string>): Promise<TokenResult> {
	let credentials: { clientId: string; clientSecret: string };
	try {
		credentials = clientCredentials(env);
	} catch (err) {
		// A configuration gap is fixed by the operator, not by reconnecting: the grant is kept.
		return { ok: false, kind: "unavailable", reason: err instanceof Error ? err.message : String(err) };
	}
	const body = new URLSearchParams({ client_id: credentials.clientId, client_secret: credentials.clientSecret, ...fields });
	const sentAt = Date.now();
	let res: Response;
	try {
		res = await fetch(`${config(env).OUTREACH_API_BASE}/oauth/token`, {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
			body,
			signal: AbortSignal.timeout(TIMEOUT_MS),
		});
	} catch (err) {
		// Refresh tokens rotate: a refresh whose answer never arrived may have used the token up, and sending it
		// again could make Outreach revoke the whole grant. Only a new sign-in is safe.
		if (fields.grant_type === "refresh_token") return { ok: false, kind: "lost", reason: REFRESH_ANSWER_LOST };
		return { ok: false, kind: "unavailable", reason: `Outreach's token endpoint did not answer (${err instanceof Error ? err.name : "network error"})` };
	}
	const json: unknown = await res.json().catch(() => undefined);
	if (res.ok) {
		const parsed = TokenResponse.safeParse(json);
		if (!parsed.success) {
			if (fields.grant_type === "refresh_token") return { ok: false, kind: "lost", reason: REFRESH_ANSWER_LOST };
			return { ok: false, kind: "unavailable", reason: "Outreach's token endpoint answered 200 without a usable token" };
		}
		return { ok: true, grant: toGrant(parsed.data, fields.refresh_token, sentAt), rotated: parsed.data.refresh_token !== undefined };
	}
	return classifyFailure(res, json);
}

function toGrant(r: z.infer<typeof TokenResponse>, previousRefresh: string | undefined, sentAt: number): TokenGrant {
	// Expiry counts from when we asked, not from Outreach's created_at: our clock is the one that checks it.
	return {
		accessToken: r.access_token,
		refreshToken: r.refresh_token ?? previousRefresh ?? "",
		expiresAt: sentAt + r.expires_in * 1000,
		scope: r.scope ?? "",
	};
}

/** Lost vs. try-later for a failed token request (see reference/outreach-api.md, "OAuth 2"). */
export function classifyFailure(res: Pick<Response, "status" | "headers">, json: unknown): TokenResult {
	const oauth = OAuthError.safeParse(json);
	const code = oauth.success ? oauth.data.error : undefined;
	const said = code ? ` (${code}${oauth.success && oauth.data.error_description ? `: ${oauth.data.error_description}` : ""})` : "";
	const status = res.status;
	if (status === 408 || status === 429 || status >= 500) {
		const retryAt = parseTime(res.headers.get("Retry-After"));
		return {
			ok: false,
			kind: "unavailable",
			reason: `Outreach's token endpoint answered ${status}${said}; trying again later`,
			...(retryAt === undefined ? {} : { retryAfterMs: Math.max(0, retryAt - Date.now()) }),
		};
	}
	// invalid_grant (revoked, expired or already-used refresh token), any 401 (e.g. invalid_client), and any
	// other refusal of the same request would fail again unchanged: only a new sign-in helps.
	const hint =
		code === "invalid_client" || code === "unauthorized_client"
			? " Check OUTREACH_CLIENT_ID and OUTREACH_CLIENT_SECRET, then reconnect."
			: " Reconnect the destination to sign in to Outreach again.";
	return { ok: false, kind: "lost", reason: `Outreach refused the token request with ${status}${said}.${hint}` };
}
