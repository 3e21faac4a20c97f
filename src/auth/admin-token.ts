import { createMiddleware } from "hono/factory";
import { timingSafeEqualString } from "../platform/crypto";
import { ApiError } from "../platform/errors";
import { bearerToken } from "../http/bearer";
import { log } from "../platform/log";
import { looksLikeApiKey, verifyApiKey } from "./keys";
import type { Principal } from "./principal";
import { noteWrongToken, throttledMessage } from "./throttle";

const MIN_ADMIN_TOKEN = 32;

/** Why admin access is impossible with this configuration, or null. Never fails open. */
export function adminTokenProblem(env: Env): string | null {
	const token = env.ADMIN_TOKEN;
	if (typeof token !== "string" || token.length === 0)
		return "ADMIN_TOKEN is not set. Set it with `wrangler secret put ADMIN_TOKEN` (locally in .dev.vars), at least 32 characters.";
	if (token.length < MIN_ADMIN_TOKEN)
		return `ADMIN_TOKEN is too short (${token.length} characters); use at least ${MIN_ADMIN_TOKEN}, e.g. \`openssl rand -base64 32\`.`;
	return null;
}

/** True when `presented` is the admin token (constant-time). */
export async function isAdminToken(env: Env, presented: string): Promise<boolean> {
	return adminTokenProblem(env) === null && (await timingSafeEqualString(presented, env.ADMIN_TOKEN));
}

/**
 * Who `presented` is: the owner (ADMIN_TOKEN), a live API key with its role, or null. An API key is looked
 * up only when it has a key's shape, so a wrong admin token costs no Durable Object call.
 */
export async function principalOf(env: Env, presented: string): Promise<Principal | null> {
	if (await isAdminToken(env, presented)) return { kind: "owner" };
	if (!looksLikeApiKey(presented)) return null;
	const key = await verifyApiKey(env, presented);
	return key ? { kind: "key", id: key.id, name: key.name, role: key.role } : null;
}

export type Authenticated = { Bindings: Env; Variables: { principal: Principal } };

/**
 * Admin API authentication: `Authorization: Bearer <ADMIN_TOKEN or API key>` → `c.var.principal`. What the
 * principal may do is decided per route by the API's permission table (src/api/permissions.ts).
 */
export const requireAdmin = createMiddleware<Authenticated>(async (c, next) => {
	const problem = adminTokenProblem(c.env);
	if (problem) throw new ApiError("misconfigured", problem);
	const presented = bearerToken(c.req.header("Authorization"));
	const principal = presented ? await principalOf(c.env, presented) : null;
	if (!principal) {
		// Only a presented, wrong token is a guess; the right one was checked first and is never throttled.
		const retryAfter = presented ? await noteWrongToken(c.env, c.req.raw.headers) : 0;
		if (retryAfter > 0) {
			log("warn", "admin_token_throttled", { retryAfterSeconds: retryAfter });
			c.header("Retry-After", String(retryAfter));
			throw new ApiError("too_many_requests", throttledMessage(retryAfter));
		}
		throw new ApiError(
			"unauthorized",
			"Missing, wrong or revoked token. Send `Authorization: Bearer <ADMIN_TOKEN>` or `Authorization: Bearer <API key>`; a deleted API key stops working at once — ask someone with the manage role for a new one (POST /api/keys).",
		);
	}
	c.set("principal", principal);
	await next();
});
