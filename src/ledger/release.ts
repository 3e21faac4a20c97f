import type { BudgetStatus } from "../gate/budget";

/**
 * When a released backlog's updates are handed back to the queue, oldest first: the first `atOnce` now, the
 * rest `perStep` at a time every `stepMs` from `from`.
 */
export type ReleasePlan = { atOnce: number; from: number; perStep: number; stepMs: number; pace: "bulk" | "budget" | "unknown budget" };

/** What the gate of the destination's Outreach user said at the release: its budget, and whether the destination's writes go in bulk. */
export type ReleaseView = { budget: BudgetStatus; bulk: boolean };

/** Without the gate's word: a share of the configured window every quarter window. */
const TICKS_PER_WINDOW = 4;

/**
 * The pace of a release after a resume or a reconnect: the one rule for it.
 *
 * Held work goes at the pace of the path and of the budget that is free, so a small backlog lands as fast as a
 * fresh burst and a large one neither floods the queue nor waits behind a fixed trickle:
 * - By bulk, all at once: the gate groups what waits, and the more it has, the fewer calls it spends.
 * - By PATCH, as many as the user's window has free now — less the slots already reserved for calls deferred
 *   before, which come first — and the rest a window's limit at a time from when those calls have left the
 *   window (a window from now, or after a 429's pause or the last reserved slot). Handing over faster would only
 *   make the gate defer the surplus, a reserved slot and a queue re-send each; slower leaves budget unused.
 * - Without the gate's word (no gate, or it did not answer), the configured limit's pace, a share every quarter
 *   window: slower than the budget may allow, but nothing waits for the gate to come back.
 * The gate stays the one that keeps calls within the budget: this only decides when updates reach the queue.
 * (The gate's number is per Outreach user, so destinations sharing the user share it; a surplus from two
 * releases at once is deferred by the gate, never sent over the limit.)
 */
export function releasePlan(held: number, now: number, view: ReleaseView | null, configured: { limit: number; windowMs: number }): ReleasePlan {
	if (view?.bulk) return { atOnce: held, from: now, perStep: held, stepMs: configured.windowMs, pace: "bulk" };
	if (view) {
		const { limit, windowSeconds, usedInWindow, pausedUntil, reserved, lastSlotAt } = view.budget;
		const windowMs = windowSeconds * 1000;
		const free = pausedUntil !== null ? 0 : Math.max(0, limit - usedInWindow - reserved);
		const from = Math.max(pausedUntil ?? now + windowMs, lastSlotAt ?? 0);
		return { atOnce: Math.min(held, free), from, perStep: limit, stepMs: windowMs, pace: "budget" };
	}
	const chunk = Math.max(100, Math.ceil(configured.limit / TICKS_PER_WINDOW));
	const tickMs = Math.max(1_000, Math.round(configured.windowMs / TICKS_PER_WINDOW));
	return { atOnce: Math.min(held, chunk), from: now + tickMs, perStep: chunk, stepMs: tickMs, pace: "unknown budget" };
}
