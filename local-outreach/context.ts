import type { Context } from "hono";
import { apiErrors, notFoundError, type ApiError } from "./errors.ts";
import { refund, type Quota } from "./limits.ts";
import type { Token, User, World } from "./state.ts";

// What every /api/v2 route knows about its request once the shared checks (401, 429, faults, 415) have passed,
// and the answers the routes share: the 403 scope check, the 404 of an unknown batch or import, the 429 of a
// spent daily quota.

export type ApiEnv = { Variables: { user: User | undefined; token: Token | undefined; quota: Quota | undefined } };

/** Whether the granted scopes allow `action` on `resource`; `.all` covers both, but read and write are separate. */
export function hasScope(token: Token, resource: string, action: "read" | "write"): boolean {
	const granted = token.scope.split(/\s+/);
	return granted.includes(`${resource}.${action}`) || granted.includes(`${resource}.all`);
}

/** 403 unauthorizedOauthScope unless the access token was granted `resource.action` (or `resource.all`). */
export function scopeMissing(c: Context<ApiEnv>, resource: string, action: "read" | "write"): Response | null {
	if (hasScope(c.get("token")!, resource, action)) return null;
	return apiErrors(c, 403, [
		{
			id: "unauthorizedOauthScope",
			title: "Unauthorized OAuth Scope",
			detail: `This request needs the '${resource}.${action}' or '${resource}.all' scope, which the access token was not granted.`,
		},
	]);
}

const ID = /^[1-9]\d{0,14}$/;

/** What the URL's `:id` names among `all` (batches, imports), or the 404 answer naming it as `kind`. */
export function resourceOf<T>(c: Context<ApiEnv>, all: ReadonlyMap<number, T>, kind: string): T | Response {
	const raw = c.req.param("id") ?? "";
	const found = ID.test(raw) ? all.get(Number(raw)) : undefined;
	return found ?? apiErrors(c, 404, [notFoundError(kind, raw)]);
}

/**
 * The 429 of a spent daily quota (bulk items, import records). A 429 never counts against the hourly limit, so
 * the call `admit` counted is taken back; and it says nothing about that limit: no Retry-After.
 */
export function quotaRefused(c: Context<ApiEnv>, world: World, error: ApiError, now: number): Response {
	c.set("quota", refund(world, c.get("user")!.id, now));
	return apiErrors(c, 429, [error]);
}
