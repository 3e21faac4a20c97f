import type { Update } from "../updates/update";

/**
 * What delivery tells a destination's ledger — by the queue consumer and by the gate's bulk delivery — kept
 * apart from the ledger itself so that the gate can report without importing the ledger (which asks gates).
 */

export type UpdateState = "pending" | "delivered" | "failed" | "superseded";

export type HoldReason = "paused" | "reconnect";

/** One update's outcome from a consumer batch. `pending` only records an attempt (it is being retried). */
export type OutcomeReport = { id: string; state: UpdateState; reason?: string; fields?: string[]; attempts?: number };

/**
 * What one consumer batch learned about one destination's updates: their outcomes, the updates to hand to the
 * queue again (a deferral to its slot, a retry after backoff, a resend without a refused field) and the ones to
 * hold. Each update carries the hand-over (`gen`) of the copy that was processed.
 */
export type BatchReport = {
	outcomes: OutcomeReport[];
	resend: { update: Update; delaySeconds: number }[];
	hold: { update: Update; reason: HoldReason; generation?: number }[];
};
