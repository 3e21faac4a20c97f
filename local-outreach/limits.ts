import type { RateWindow, World } from "./state.ts";

// Outreach's limit is a fixed number of calls per user per window; the window opens at the user's first
// counted call after the previous one ended (not on the clock's hour), which is what a client must cope with.

/** What the X-RateLimit-* headers report; `resetAt` is the window's end in epoch ms. */
export type Quota = { limit: number; remaining: number; resetAt: number };

function openWindow(world: World, userId: number, now: number): RateWindow {
	const current = world.windows.get(userId);
	if (current && now < current.start + world.rateLimit.windowSeconds * 1000) return current;
	const fresh = { start: now, count: 0 };
	world.windows.set(userId, fresh);
	return fresh;
}

function quotaOf(world: World, window: RateWindow): Quota {
	const { limit, windowSeconds } = world.rateLimit;
	return { limit, remaining: Math.max(0, limit - window.count), resetAt: window.start + windowSeconds * 1000 };
}

/** Counts one call for the user, unless the window is spent: then `admitted` is false and nothing is counted. */
export function admit(world: World, userId: number, now: number): { admitted: boolean; quota: Quota } {
	const window = openWindow(world, userId, now);
	if (window.count >= world.rateLimit.limit) return { admitted: false, quota: quotaOf(world, window) };
	window.count += 1;
	return { admitted: true, quota: quotaOf(world, window) };
}

/**
 * Takes back a call `admit` counted, for an answer that turns out to be a 429 for another reason (the bulk
 * quota): no 429 counts against the limit. Answers the quota as it now stands.
 */
export function refund(world: World, userId: number, now: number): Quota {
	const window = openWindow(world, userId, now);
	window.count = Math.max(0, window.count - 1);
	return quotaOf(world, window);
}

/** Spends calls of the user's window as another integration of the same user would (never past the limit). */
export function spend(world: World, userId: number, calls: number, now: number): void {
	const window = openWindow(world, userId, now);
	window.count = Math.min(world.rateLimit.limit, window.count + calls);
}

export function quotaHeaders(quota: Quota): Record<string, string> {
	return {
		"X-RateLimit-Limit": String(quota.limit),
		"X-RateLimit-Remaining": String(quota.remaining),
		// Rounded up so that a client waiting until this second never comes back before the window ends.
		"X-RateLimit-Reset": String(Math.ceil(quota.resetAt / 1000)),
	};
}

/** 10000 → "10,000", as Outreach writes the limit in its 429 message. */
export function withThousands(n: number): string {
	return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** The 429 Outreach answers over the limit: its exact message, and Retry-After in whole seconds. */
export function rateLimitExceeded(quota: Quota, now: number) {
	return {
		error: {
			id: "rateLimitExceeded",
			title: "Rate Limit Exceeded",
			detail: `You have exceeded your permitted rate limit of ${withThousands(quota.limit)}; please try again at ${new Date(quota.resetAt).toISOString()}.`,
		},
		retryAfter: String(Math.max(1, Math.ceil((quota.resetAt - now) / 1000))),
	};
}
