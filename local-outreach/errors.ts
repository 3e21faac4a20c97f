import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";

// Outreach speaks JSON:API: every error, whatever the route, is {"errors":[{id,title,detail,source?}]}.

/** `source` names the offending member of the body (`pointer`) or the offending query parameter (`parameter`). */
export type ApiError = { id: string; title: string; detail: string; source?: { pointer: string } | { parameter: string } };

export const JSON_API = "application/vnd.api+json";

/** A JSON:API document response. */
export function jsonApi(c: Context, body: unknown, status: ContentfulStatusCode = 200, headers: Record<string, string> = {}): Response {
	return c.body(JSON.stringify(body), status, { ...headers, "Content-Type": JSON_API });
}

/** A JSON:API error response. */
export function apiErrors(c: Context, status: ContentfulStatusCode, errors: ApiError[], headers: Record<string, string> = {}): Response {
	return jsonApi(c, { errors }, status, headers);
}

/** A time as JSON:API resources carry it (ISO 8601), null for one that has not happened. */
export function isoTime(ms: number | null): string | null {
	return ms === null ? null : new Date(ms).toISOString();
}

export function notFoundError(kind: string, id: string): ApiError {
	return { id: "resourceNotFound", title: "Resource Not Found", detail: `Could not find '${kind}' with ID '${id}'.` };
}

/** The error body for an injected fault status, named as Outreach names it where we know the name. */
export function faultError(status: number): ApiError {
	const known: Record<number, [string, string]> = {
		500: ["internalServerError", "Internal Server Error"],
		502: ["badGateway", "Bad Gateway"],
		503: ["scheduledServerMaintenance", "Scheduled Server Maintenance"],
		504: ["gatewayTimeout", "Gateway Timeout"],
	};
	const [id, title] = known[status] ?? ["injectedFault", `Error ${status}`];
	return { id, title, detail: `The local Outreach was told to answer ${status} (fault injection).` };
}

export function validationError(detail: string, source?: ApiError["source"]): ApiError {
	return { id: "validationError", title: "Validation Error", detail, ...(source ? { source } : {}) };
}

/**
 * Parses the JSON body of an action (a bulk modify, a bulk upsert) with its schema. Every problem is a 422
 * validationError naming the offending member by its JSON pointer, so a client sees all of them at once.
 */
export function judgeDocument<T>(text: string, schema: z.ZodType<T>, what: string): { ok: true; document: T } | { ok: false; errors: ApiError[] } {
	let body: unknown;
	try {
		body = JSON.parse(text);
	} catch {
		return { ok: false, errors: [validationError("The request body is not valid JSON.")] };
	}
	const parsed = schema.safeParse(body);
	if (parsed.success) return { ok: true, document: parsed.data };
	const errors = parsed.error.issues.map((issue) => {
		// zod reports a missing required member as "nonoptional"; say it the way a person would.
		const missing = issue.code === "invalid_type" && issue.expected === "nonoptional";
		const message = missing ? `'${String(issue.path.at(-1))}' is required` : issue.message;
		return validationError(`Malformed ${what}: ${message}.`, { pointer: issue.path.map((part) => `/${String(part)}`).join("") });
	});
	return { ok: false, errors };
}
