import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

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
