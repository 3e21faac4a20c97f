import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { ConfigError } from "../platform/config";
import { hmacKey, hmacSign, hmacVerify, masterKeyBytes, randomToken, sha256Hex, timingSafeEqualString } from "../platform/crypto";
import type { Principal } from "./principal";
import { sessionsStub } from "./sessions";

/**
 * Console sessions: an HttpOnly, Secure, SameSite=Lax cookie holding a signed session id — never the admin
 * token. The signing key is derived with HKDF from TOKEN_ENCRYPTION_KEY, with ADMIN_TOKEN's hash in its
 * purpose, so rotating either secret signs every console out. The cookie carries the session's id and expiry
 * under the signature; the session itself lives on the server (src/auth/sessions.ts), so signing out ends it there.
 *
 * SameSite=Lax, not Strict: Strict would drop the cookie on the top-level return from Outreach's sign-in,
 * and the OAuth callback checks that the `state` was started by this session. No `__Host-` prefix: that
 * needs an https origin, and `npm start` serves http://127.0.0.1 (where browsers accept Secure cookies).
 */

export const SESSION_COOKIE = "aep_console";
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** The hidden form field every console form carries. */
export const CSRF_FIELD = "_csrf";

const VERSION = "v1";
const keyCache = new Map<string, Promise<CryptoKey>>();

/**
 * The HMAC key signing cookies and CSRF tokens: HKDF from TOKEN_ENCRYPTION_KEY (src/platform/crypto.ts), with the
 * admin token's hash in the purpose. Throws a ConfigError (a clear 500) when the key is missing or malformed.
 */
async function sessionKey(env: Env): Promise<CryptoKey> {
	masterKeyBytes(env);
	const cacheKey = `${env.TOKEN_ENCRYPTION_KEY}\u0000${env.ADMIN_TOKEN}`;
	let key = keyCache.get(cacheKey);
	if (!key) {
		key = sha256Hex(`admin-token:${env.ADMIN_TOKEN ?? ""}`).then((h) => hmacKey(env, `console-session:${h}`));
		// A failed derivation must not stick in the cache.
		key.catch(() => keyCache.delete(cacheKey));
		keyCache.set(cacheKey, key);
	}
	return key;
}

export type Session = { id: string; expiresAt: number };
/** A live session and who signed in with it. */
export type SignedIn = Session & { principal: Principal };

/** Verifies a cookie value; null when it is malformed, forged or expired. */
export async function verifySessionCookie(env: Env, value: string | undefined, now = Date.now()): Promise<Session | null> {
	const parts = (value ?? "").split(".");
	if (parts.length !== 4 || parts[0] !== VERSION) return null;
	const [, id, exp, sig] = parts as [string, string, string, string];
	if (!/^[A-Za-z0-9_-]{16,64}$/.test(id) || !/^\d{1,15}$/.test(exp)) return null;
	if (!(await hmacVerify(await sessionKey(env), `${VERSION}.${id}.${exp}`, sig))) return null;
	const expiresAt = Number(exp);
	return expiresAt > now ? { id, expiresAt } : null;
}

/** Starts a new session for `principal` (after its token was checked) and sets its cookie. */
export async function startSession<E extends { Bindings: Env }>(c: Context<E>, principal: Principal, now = Date.now()): Promise<Session> {
	const id = randomToken(24);
	const expiresAt = now + SESSION_TTL_MS;
	const body = `${VERSION}.${id}.${expiresAt}`;
	setCookie(c, SESSION_COOKIE, `${body}.${await hmacSign(await sessionKey(c.env), body)}`, {
		httpOnly: true,
		secure: true,
		sameSite: "Lax",
		path: "/",
		maxAge: Math.floor(SESSION_TTL_MS / 1000),
	});
	await sessionsStub(c.env).start(id, expiresAt, principal);
	return { id, expiresAt };
}

/** Ends the session on the server (its cookie opens nothing any more, wherever it was copied) and in the browser. */
export async function endSession<E extends { Bindings: Env }>(c: Context<E>): Promise<void> {
	const session = await verifySessionCookie(c.env, getCookie(c, SESSION_COOKIE)).catch(() => null);
	if (session) await sessionsStub(c.env).end(session.id);
	deleteCookie(c, SESSION_COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Lax" });
}

/** The verified console session of this request, or null: a signed cookie whose session is still live on the server. */
export async function readSession<E extends { Bindings: Env }>(c: Context<E>): Promise<SignedIn | null> {
	const session = await verifySessionCookie(c.env, getCookie(c, SESSION_COOKIE));
	if (!session) return null;
	const principal = await sessionsStub(c.env).who(session.id);
	return principal ? { ...session, principal } : null;
}

/** The verified console session id of this request, or null when there is none. */
export async function readSessionId<E extends { Bindings: Env }>(c: Context<E>): Promise<string | null> {
	try {
		return (await readSession(c))?.id ?? null;
	} catch (err) {
		// A misconfigured key means no session can be valid; the console itself reports why.
		if (err instanceof ConfigError) return null;
		throw err;
	}
}

/** The CSRF token of a session: a MAC of its id, so it needs no storage and dies with the session. */
export async function csrfToken(env: Env, sessionId: string): Promise<string> {
	return hmacSign(await sessionKey(env), `csrf.${sessionId}`);
}

export async function isValidCsrfToken(env: Env, sessionId: string, presented: unknown): Promise<boolean> {
	if (typeof presented !== "string" || presented.length === 0) return false;
	return timingSafeEqualString(presented, await csrfToken(env, sessionId));
}
