import { zValidator } from "@hono/zod-validator";
import type { Context } from "hono";
import type { z } from "zod";
import { ApiError } from "../platform/errors";

/**
 * The one way routes validate input: zod through @hono/zod-validator, and on failure a 400 in the API's
 * envelope listing every problem with its dotted path:
 * `{"error":{"code":"bad_request","message":"…","details":[{"path":"segments.0.mappingId","message":"…"}]}}`.
 */

export type Problem = { path: string; message: string };

/** Every zod issue as `{path, message}`; an unknown key is reported at its own path. */
export function problems(error: z.core.$ZodError): Problem[] {
	return error.issues.flatMap((issue): Problem[] => {
		const at = issue.path.map(String);
		if (issue.code === "unrecognized_keys")
			return issue.keys.map((key) => ({ path: [...at, key].join("."), message: "is not a known field" }));
		return [{ path: at.join(".") || "(body)", message: issue.message }];
	});
}

function summary(list: Problem[], what: string): string {
	const first = list[0];
	const head = first ? `${first.path}: ${first.message}` : "invalid";
	return `Invalid ${what} (${list.length} problem${list.length === 1 ? "" : "s"}; see details): ${head}${list.length > 1 ? "; …" : ""}`;
}

/** The validator hook: throws the 400 envelope (errors.ts renders it) when the input is invalid. */
export function rejectInvalid(result: { success: true } | { success: false; error: z.core.$ZodError; target: string }): void {
	if (result.success) return;
	const list = problems(result.error);
	throw new ApiError("bad_request", summary(list, result.target === "json" ? "request body" : result.target), list);
}

const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/i;

/** 400 unless the body is declared as JSON and parses; caches the parse for the validator. */
async function requireJsonBody(c: Context): Promise<void> {
	const media = (c.req.header("Content-Type") ?? "").split(";")[0]!.trim();
	if (!JSON_MEDIA.test(media))
		throw new ApiError("bad_request", `Send a JSON body with \`Content-Type: application/json\` (got ${media ? `'${media}'` : "no Content-Type"}).`);
	try {
		await c.req.json(); // Hono caches the parsed body; the validator reads it from there
	} catch {
		throw new ApiError("bad_request", "The request body is not valid JSON.");
	}
}

/**
 * Validates the JSON body against `schema`; the handler reads it with `c.req.valid("json")`.
 * A missing, non-JSON or malformed body is a 400 in the same envelope, never Hono's plain-text answer.
 */
export function jsonBody<T extends z.ZodType>(schema: T) {
	const validate = zValidator("json", schema, rejectInvalid);
	const guarded: typeof validate = async (c, next) => {
		await requireJsonBody(c);
		return validate(c, next);
	};
	return guarded;
}

/** Validates the query string against `schema`; the handler reads it with `c.req.valid("query")`. */
export function query<T extends z.ZodType>(schema: T) {
	return zValidator("query", schema, rejectInvalid);
}
