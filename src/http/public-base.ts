import { createMiddleware } from "hono/factory";
import { config, ConfigError } from "../platform/config";
import { isLocalDevelopment } from "../platform/environment";
import { log } from "../platform/log";

/**
 * PUBLIC_BASE_URL is optional: without it the OAuth redirect URI and each destination's ingest URL are built
 * from the request's own origin (src/platform/config.ts `publicBase`) — that is, from its Host header. That is right
 * for `npm start`, but in a deployment the links then change with whatever name the Worker was reached by,
 * so the Worker says so: a warning on the console's pages and one log line per isolate in `wrangler tail`.
 */

/** True in a deployment (not local development) whose PUBLIC_BASE_URL is empty. */
export function publicBaseMissing(env: Env): boolean {
	try {
		return config(env).PUBLIC_BASE_URL === undefined && !isLocalDevelopment(env);
	} catch (err) {
		if (err instanceof ConfigError) return false; // the configuration error itself is reported where it is used
		throw err;
	}
}

export const PUBLIC_BASE_MISSING =
	"PUBLIC_BASE_URL is not set, so the ingest URL and the OAuth redirect URI follow the address each request came to (its Host header). Set PUBLIC_BASE_URL in wrangler.toml [vars] to this Worker's public origin, e.g. https://aep.example.com, and deploy again.";

/** Once per isolate: a request found PUBLIC_BASE_URL missing and the log said so. */
let warned = false;

/** Logs `public_base_url_missing` once per isolate, on the first request that finds it missing. */
export const warnPublicBaseMissing = createMiddleware<{ Bindings: Env }>(async (c, next) => {
	if (!warned && publicBaseMissing(c.env)) {
		warned = true;
		log("warn", "public_base_url_missing", { message: PUBLIC_BASE_MISSING, host: new URL(c.req.url).host });
	}
	await next();
});
