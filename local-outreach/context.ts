import type { Context } from "hono";
import { apiErrors } from "./errors.ts";
import type { Quota } from "./limits.ts";
import type { Token, User } from "./state.ts";

// What every /api/v2 route knows about its request once the shared checks (401, 429, faults, 415) have passed,
// and the 403 scope check each route makes with it: shared by the prospect and the bulk routes.

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
