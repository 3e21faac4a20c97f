import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ConfigError } from "./config";
import { log } from "./log";

/** The one error vocabulary of the API: each code has exactly one HTTP status. */
export const errorStatus = {
	bad_request: 400,
	unauthorized: 401,
	forbidden: 403,
	not_found: 404,
	conflict: 409,
	payload_too_large: 413,
	unsupported_media_type: 415,
	too_many_requests: 429,
	misconfigured: 500,
	internal: 500,
	upstream_error: 502,
	unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof errorStatus;

/** An error meant for the client: its message says what was wrong and what to do. */
export class ApiError extends Error {
	constructor(
		readonly code: ErrorCode,
		message: string,
		readonly details?: unknown,
	) {
		super(message);
	}
	get status(): ContentfulStatusCode {
		return errorStatus[this.code];
	}
}

/** The JSON envelope every API error uses: `{"error":{"code","message","details"?}}`. */
export function errorBody(code: ErrorCode, message: string, details?: unknown) {
	return { error: details === undefined ? { code, message } : { code, message, details } };
}

export function errorResponse(c: Context, err: ApiError): Response {
	return c.json(errorBody(err.code, err.message, err.details), err.status);
}

/** Turns thrown errors into the envelope; unknown errors become a plain 500 without their message. */
export const onError: ErrorHandler = (err, c) => {
	if (err instanceof ApiError) return errorResponse(c, err);
	if (err instanceof ConfigError) return errorResponse(c, new ApiError("misconfigured", err.message));
	if (typeof (err as { getResponse?: unknown }).getResponse === "function") {
		return (err as unknown as { getResponse(): Response }).getResponse();
	}
	log("error", "unhandled_error", { path: new URL(c.req.url).pathname, error: String(err?.name ?? "Error") });
	return c.json(errorBody("internal", "Internal error. Retry later; if it persists, check `wrangler tail`."), 500);
};

export const notFound: NotFoundHandler = (c) =>
	c.json(errorBody("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`), 404);
