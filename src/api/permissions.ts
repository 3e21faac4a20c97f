import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import { actorName, mayAct, type Principal, type Role } from "../auth/principal";
import { ApiError } from "../platform/errors";
import { log } from "../platform/log";
import { auditStub } from "../audit/audit";

/**
 * THE route × role table: every admin API route, the role it needs, and the action a refusal and the audit
 * log name. The API's guard (`authorize`, below) reads it for every request, the console reads it to hide what
 * a role may not do, and test/api/permissions.test.ts walks it against the app's own route list. A route
 * missing here is refused for everyone, the owner included (500 naming the route), so a new route cannot
 * skip it: add its line here in the same change.
 *
 * Paths are as mounted under /api. The roles mirror AEP's View / Activate / Manage Destinations.
 */
export const PERMISSIONS = {
	"GET /destinations": { role: "view", action: "Listing destinations" },
	"POST /destinations": { role: "manage", action: "Creating a destination" },
	"GET /destinations/:id": { role: "view", action: "Reading a destination" },
	"PATCH /destinations/:id": { role: "activate", action: "Changing a destination (rename, pause, resume)" },
	"DELETE /destinations/:id": { role: "manage", action: "Deleting a destination" },
	"POST /destinations/:id/ingest-token": { role: "manage", action: "Rotating the ingest token" },
	"POST /destinations/:id/connect": { role: "manage", action: "Connecting to Outreach" },
	"POST /destinations/:id/connection/confirm": { role: "manage", action: "Confirming an Outreach connection" },
	"DELETE /destinations/:id/connection": { role: "manage", action: "Disconnecting from Outreach" },
	"GET /destinations/:id/mapping": { role: "view", action: "Reading the mapping" },
	"PUT /destinations/:id/mapping": { role: "activate", action: "Changing the mapping" },
	"POST /destinations/:id/mapping/verify": { role: "activate", action: "Verifying the mapping" },
	"GET /destinations/:id/activity": { role: "view", action: "Reading activity" },
	"GET /destinations/:id/failures": { role: "view", action: "Reading failures" },
	"POST /destinations/:id/failures/replay": { role: "activate", action: "Replaying failures" },
	"GET /destinations/:id/alerts": { role: "view", action: "Reading alerts" },
	"PUT /destinations/:id/alerts": { role: "manage", action: "Changing alerts" },
	"POST /destinations/:id/alerts/test": { role: "manage", action: "Sending a test alert" },
	"GET /destinations/:id/prospects/:prospectId": { role: "view", action: "Tracing a prospect" },
	"POST /destinations/:id/erasures": { role: "manage", action: "Erasing prospects" },
	"GET /metrics": { role: "view", action: "Reading metrics" },
	"GET /audit": { role: "view", action: "Reading the audit log" },
	"GET /keys": { role: "manage", action: "Listing API keys" },
	"POST /keys": { role: "manage", action: "Creating an API key" },
	"DELETE /keys/:id": { role: "manage", action: "Deleting an API key" },
} as const satisfies Record<string, { role: Role; action: string }>;

export type RouteKey = keyof typeof PERMISSIONS;

/** True when `principal` may call the route `key` (for the console, which hides what it may not do). */
export function may(principal: Principal, key: RouteKey): boolean {
	return mayAct(principal, PERMISSIONS[key].role);
}

/**
 * Who the console's in-process calls act for: the typed client (src/api/client.ts) registers each Request it
 * sends, with the signed-in person. Only code inside this Worker can put a Request here; a request from the
 * network is authenticated by `requireAdmin` (src/auth/admin-token.ts) in app.ts instead.
 */
export const inProcessPrincipals = new WeakMap<Request, Principal>();

/** What a route's handler adds to its audit entry: a before → after summary, never a secret or profile value. */
export type AuditNote = { summary: string; destinationId?: string | null };

/** Lets a handler give its audit entry a before → after summary (never a secret or profile value). */
export function noteAudit(c: { set: unknown }, note: AuditNote): void {
	(c as { set(key: "audit", value: AuditNote): void }).set("audit", note);
}

export type Authorized = { Bindings: Env; Variables: { principal: Principal; audit?: AuditNote } };

const READS = /^(GET|HEAD|OPTIONS)$/;

/** The table's key of the route this request matched (its path as mounted under /api), or null when none did. */
function routeKeyOf(c: Context): string | null {
	const handler = matchedRoutes(c).findLast((r) => r.method !== "ALL");
	if (!handler) return null;
	const path = handler.path.replace(/^\/api(?=\/)/, "").replace(/\/$/, "") || "/";
	return `${handler.method} ${path}`;
}

/**
 * The API's guard, run before every /api route: finds the route's line in PERMISSIONS, refuses (403, nothing
 * changed) a principal without its role, and after a successful change writes the audit entry — here, not in
 * each handler, so no change can go unrecorded.
 */
export const authorize = createMiddleware<Authorized>(async (c, next) => {
	const principal = c.get("principal") ?? inProcessPrincipals.get(c.req.raw);
	if (!principal) throw new ApiError("unauthorized", "Missing or wrong token. Send `Authorization: Bearer <ADMIN_TOKEN or API key>`.");
	c.set("principal", principal);
	const key = routeKeyOf(c);
	if (key === null) return next(); // no such route: the 404 says so
	const line = (PERMISSIONS as Record<string, { role: Role; action: string } | undefined>)[key];
	if (!line) {
		log("error", "route_without_permission", { route: key });
		throw new ApiError("misconfigured", `The route ${key} has no line in the permission table (src/api/permissions.ts), so it is refused for everyone. Add it there.`);
	}
	if (!mayAct(principal, line.role)) throw new ApiError("forbidden", `${line.action} needs the ${line.role} role`);
	await next();
	if (READS.test(c.req.method) || c.res.status >= 400) return;
	const note = c.get("audit");
	const destinationId = note?.destinationId !== undefined ? note.destinationId : (/^\/(?:api\/)?destinations\/([^/]+)/.exec(new URL(c.req.url).pathname)?.[1] ?? null);
	await auditStub(c.env).record({
		at: new Date().toISOString(),
		actor: actorName(principal),
		action: key,
		destinationId: destinationId ? decodeURIComponent(destinationId) : null,
		summary: note?.summary ?? line.action,
	});
});
