import { Hono, type Context, type MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { apiErrors, faultError, JSON_API, jsonApi, notFoundError } from "./errors.ts";
import { bulkRoutes } from "./bulk-routes.ts";
import { scopeMissing, type ApiEnv } from "./context.ts";
import { importRoutes } from "./import-routes.ts";
import { admit, quotaHeaders, rateLimitExceeded } from "./limits.ts";
import { judgePatch } from "./prospects.ts";
import { typesDocument } from "./rules.ts";
import { findProspect, prospectId, tokenState, updateProspect, type World } from "./state.ts";

// /api/v2: the checks run as a chain of middleware in Outreach's order — 401, 429, (injected faults), 415 —
// and each route then checks 403 scope, 404 and 422 itself, because only the route knows which scope,
// resource and document it needs.

/** The stats key for a request: its method and route pattern, so every prospect (batch, import) counts under one key. */
function routeKey(method: string, path: string): string {
	const pattern = path
		.replace(/^\/api\/v2\/prospects\/[^/]+$/, "/api/v2/prospects/:id")
		.replace(/^\/api\/v2\/batches\/(?!actions\/)[^/]+(\/actions\/cancel)?$/, "/api/v2/batches/:id$1")
		.replace(/^\/api\/v2\/imports\/(?!actions\/)[^/]+$/, "/api/v2/imports/:id");
	return `${method} ${pattern}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Delays the response, records it for /__fake/stats and /__fake/requests, and stamps the quota headers. */
function observe(world: World): MiddlewareHandler<ApiEnv> {
	return async (c, next) => {
		const at = Date.now();
		if (world.faults.latencyMs > 0) await sleep(world.faults.latencyMs);
		await next();
		const quota = c.get("quota");
		if (quota) for (const [name, value] of Object.entries(quotaHeaders(quota))) c.res.headers.set(name, value);
		const status = c.res.status;
		// A 429 also says when its window resets, so checks can prove no call was sent before then.
		const entry = { at, userId: c.get("user")?.id ?? null, method: c.req.method, path: c.req.path, status, ...(status === 429 && quota ? { resetAt: quota.resetAt } : {}) };
		world.log.push(entry);
		const byStatus = (world.stats.requests[routeKey(entry.method, entry.path)] ??= {});
		byStatus[status] = (byStatus[status] ?? 0) + 1;
		if (status === 429) world.stats.status429 += 1;
	};
}

/** 401 unless the request carries a live access token; remembers whose it is. */
function authenticate(world: World): MiddlewareHandler<ApiEnv> {
	return async (c, next) => {
		const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("Authorization") ?? "");
		const token = match ? world.tokens.get(match[1]!) : undefined;
		const user = token?.type === "access" ? world.users.get(token.userId) : undefined;
		const state = token && user ? tokenState(token, Date.now()) : "unknown";
		if (!token || !user || state !== "active") {
			const detail = match ? `The access token is ${state}.` : "No access token was given (Authorization: Bearer <token>).";
			return apiErrors(c, 401, [{ id: "unauthorized", title: "Unauthorized", detail }], {
				"WWW-Authenticate": `Bearer error="invalid_token", error_description="${detail}"`,
			});
		}
		c.set("user", user);
		c.set("token", token);
		await next();
	};
}

/** 429 over the user's limit (not counted); otherwise the call counts. */
function limit(world: World): MiddlewareHandler<ApiEnv> {
	return async (c, next) => {
		const now = Date.now();
		const { admitted, quota } = admit(world, c.get("user")!.id, now);
		c.set("quota", quota);
		if (!admitted) {
			const { error, retryAfter } = rateLimitExceeded(quota, now);
			return apiErrors(c, 429, [error], { "Retry-After": retryAfter });
		}
		await next();
	};
}

/**
 * Answers the injected status while its count lasts (on each call with its probability); it comes after the
 * limit check, so it is counted.
 */
function injectFaults(world: World): MiddlewareHandler<ApiEnv> {
	return async (c, next) => {
		const fault = world.faults.status;
		if (!fault || (fault.probability < 1 && Math.random() >= fault.probability)) return next();
		fault.remaining -= 1;
		if (fault.remaining <= 0) world.faults.status = null;
		// Outreach's maintenance 503 gives Retry-After as an ISO-8601 time, not in seconds (reference/outreach-api.md).
		const headers: Record<string, string> =
			fault.status === 503 ? { "Retry-After": new Date(Date.now() + fault.retryAfterSeconds * 1000).toISOString() } : {};
		return apiErrors(c, fault.status as ContentfulStatusCode, [faultError(fault.status)], headers);
	};
}

/** 415 unless a request with a body declares it as JSON:API; a GET has nothing to declare. */
const requireJsonApi: MiddlewareHandler<ApiEnv> = async (c, next) => {
	if (!["POST", "PUT", "PATCH"].includes(c.req.method)) return next();
	const mediaType = (c.req.header("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
	if (mediaType !== JSON_API) {
		return apiErrors(c, 415, [
			{
				id: "unsupportedMediaType",
				title: "Unsupported Media Type",
				detail: `Requests with a body must be sent as '${JSON_API}' (got '${mediaType || "nothing"}').`,
			},
		]);
	}
	await next();
};

function prospectDocument(c: Context, id: number, attributes: Record<string, unknown>) {
	return { data: { type: "prospect", id, attributes, links: { self: `${new URL(c.req.url).origin}/api/v2/prospects/${id}` } } };
}

/** The prospect id in the URL when it names an existing prospect, else a 404 response. */
function existingProspect(c: Context<ApiEnv>, world: World): { id: number; attributes: Record<string, unknown> } | Response {
	const raw = c.req.param("id") ?? "";
	const id = prospectId(raw);
	const attributes = id === null ? undefined : findProspect(world, id);
	return id !== null && attributes ? { id, attributes } : apiErrors(c, 404, [notFoundError("prospect", raw)]);
}

export function apiRoutes(world: World): Hono<ApiEnv> {
	const api = new Hono<ApiEnv>();
	api.use("*", observe(world), authenticate(world), limit(world), injectFaults(world), requireJsonApi);

	api.get("/users/me", (c) => {
		const denied = scopeMissing(c, "users", "read");
		if (denied) return denied;
		const user = c.get("user")!;
		const name = [user.firstName, user.lastName].filter(Boolean).join(" ") || user.email;
		return jsonApi(c, {
			data: { type: "user", id: user.id, attributes: { email: user.email, firstName: user.firstName, lastName: user.lastName, name } },
		});
	});

	// Any valid token may read the field rules: a client checks its mapping with them before writing.
	api.get("/types", (c) => jsonApi(c, typesDocument(world.fieldRules)));

	api.get("/prospects/:id", (c) => {
		const denied = scopeMissing(c, "prospects", "read");
		if (denied) return denied;
		const found = existingProspect(c, world);
		if (found instanceof Response) return found;
		return jsonApi(c, prospectDocument(c, found.id, found.attributes));
	});

	api.patch("/prospects/:id", async (c) => {
		const denied = scopeMissing(c, "prospects", "write");
		if (denied) return denied;
		const found = existingProspect(c, world);
		if (found instanceof Response) return found;
		let body: unknown;
		try {
			body = JSON.parse(await c.req.text());
		} catch {
			return apiErrors(c, 400, [{ id: "badRequest", title: "Bad Request", detail: "The request body is not valid JSON." }]);
		}
		const verdict = judgePatch(body, found.id, world.fieldRules);
		if (!verdict.ok) return apiErrors(c, verdict.status, verdict.errors);
		return jsonApi(c, prospectDocument(c, found.id, updateProspect(world, found.id, verdict.attributes, { via: "patch" })));
	});

	bulkRoutes(api, world);
	importRoutes(api, world);

	api.all("*", (c) =>
		apiErrors(c, 404, [{ id: "resourceNotFound", title: "Resource Not Found", detail: `No route ${c.req.method} ${c.req.path}.` }]),
	);
	return api;
}
