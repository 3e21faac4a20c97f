import { log } from "../platform/log";

/**
 * Wrong-token counting that holds across isolates: Workers' Rate Limiting binding (wrangler.toml
 * `[[ratelimits]]`), which counts per client key in each Cloudflare location, where a per-isolate count lets a
 * guesser spread out over isolates. Callers consult it only after a token turned out wrong, so the right token
 * is never counted, delayed or refused.
 *
 * If the binding fails, the wrong token is answered 401 as before (the per-isolate throttle in
 * src/auth/throttle.ts still applies to admin tokens): a limiter outage must not turn into an outage of the
 * answer, and tokens of 256 random bits are out of reach of guessing either way.
 */

export const WRONG_TOKEN_PERIOD_SECONDS = 60;

/** True when `key` has had too many wrong tokens of this kind recently (answer 429 with Retry-After 60). */
export async function tooManyWrongTokens(limiter: RateLimit | undefined, key: string): Promise<boolean> {
	if (!limiter) return false;
	try {
		const { success } = await limiter.limit({ key });
		return !success;
	} catch (err) {
		log("warn", "wrong_token_limiter_failed", { error: String((err as Error)?.name ?? "Error") });
		return false;
	}
}

/**
 * The key a request is counted under: its CF-Connecting-IP (set by Cloudflare's edge, which replaces any
 * value the client sent), else one shared key — so requests without it are throttled together, never not at all.
 */
export function clientKey(headers: Headers): string {
	const address = headers.get("CF-Connecting-IP")?.trim() ?? "";
	return address && address.length <= 64 ? `ip:${address}` : "no-client-address";
}
