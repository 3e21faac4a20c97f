import { LruCache } from "../platform/cache";
import { clientKey, tooManyWrongTokens, WRONG_TOKEN_PERIOD_SECONDS } from "../http/wrong-tokens";

export { clientKey };

/**
 * Throttling of wrong admin tokens, per client address. The admin API's bearer and the console's sign-in
 * guard the same secret, so they share one count: after MAX_FAILURES wrong tokens within WINDOW_MS, further
 * wrong ones from that address are refused (429, Retry-After) until the oldest counted failure is older than
 * the window. Callers check the token first and consult this only when it was wrong, so the right token is
 * never delayed or refused — a guesser cannot lock the admin out.
 *
 * Two counts, either of which throttles: the Rate Limiting binding ADMIN_WRONG_TOKENS (10 a minute per address,
 * across isolates, src/http/wrong-tokens.ts), and the exact per-isolate count below, which alone knows when the
 * oldest failure leaves its window (for Retry-After).
 *
 * The per-isolate counts live in memory, in a bounded LRU per isolate (at most CLIENTS addresses): a guesser whose
 * requests reach several isolates or locations gets up to MAX_FAILURES per isolate per window, and an
 * address forgotten under pressure starts again at zero. That slows guessing by orders of magnitude without
 * a Durable Object on every failed request; a 256-bit admin token is out of reach of guessing either way.
 */

export const MAX_FAILURES = 10;
export const WINDOW_MS = 10 * 60_000;
const CLIENTS = 10_000;

/** Failure times per client key, oldest first, at most MAX_FAILURES of them. */
const failures = new LruCache<string, number[]>(CLIENTS);


/**
 * Records a wrong admin token from `key`; answers how many seconds the client must wait before another
 * wrong token is heard (to answer 429 with Retry-After), or 0 while it is within MAX_FAILURES.
 */
export function noteWrongAdminToken(key: string, now = Date.now()): number {
	const recent = (failures.get(key) ?? []).filter((t) => t > now - WINDOW_MS);
	const throttled = recent.length >= MAX_FAILURES;
	recent.push(now);
	// Only the newest MAX_FAILURES matter: the oldest of them says when the count falls below the limit again.
	const kept = recent.slice(-MAX_FAILURES);
	failures.set(key, kept);
	return throttled ? Math.max(1, Math.ceil((kept[0]! + WINDOW_MS - now) / 1000)) : 0;
}

/**
 * Records a wrong admin token (or API key) from the request's address in both counts; answers the seconds to
 * wait (Retry-After), or 0 while neither count is exceeded.
 */
export async function noteWrongToken(env: Env, headers: Headers, now = Date.now()): Promise<number> {
	const key = clientKey(headers);
	const local = noteWrongAdminToken(key, now);
	const everywhere = await tooManyWrongTokens(env.ADMIN_WRONG_TOKENS, key);
	return Math.max(local, everywhere ? WRONG_TOKEN_PERIOD_SECONDS : 0);
}

/** The message for a throttled client, saying what happened and what to do. */
export function throttledMessage(retryAfterSeconds: number): string {
	const wait = retryAfterSeconds >= 90 ? `about ${Math.ceil(retryAfterSeconds / 60)} minutes` : `${retryAfterSeconds} seconds`;
	return `Too many wrong admin tokens from this address (more than ${MAX_FAILURES} within a minute or ${WINDOW_MS / 60_000} minutes). Wait ${wait} before trying another token, and check where you copied it from; the right token still works.`;
}
