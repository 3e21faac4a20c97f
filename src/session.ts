import type { Context } from "hono";

/**
 * Console sessions (stub: the console work implements it): an HttpOnly, Secure, SameSite=Lax cookie holding a
 * signed session id, with a key derived from TOKEN_ENCRYPTION_KEY by HKDF. Never the admin token itself.
 */

/** The verified console session id of this request, or null when there is none. */
export async function readSessionId(c: Context<{ Bindings: Env }>): Promise<string | null> {
	void c;
	return null;
}
