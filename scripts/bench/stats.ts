/** Small statistics for the benchmark's report. */

/** The p-th percentile (0–100) by nearest rank; 0 for no samples. */
export function percentile(samples: number[], p: number): number {
	if (samples.length === 0) return 0;
	const sorted = [...samples].sort((a, b) => a - b);
	const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
	return sorted[rank - 1]!;
}

export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The most timestamps in any interval of `windowMs`, however aligned (the limit must hold for every one). */
export function maxInAnyWindow(times: number[], windowMs: number): number {
	const sorted = [...times].sort((a, b) => a - b);
	let most = 0;
	let start = 0;
	for (let end = 0; end < sorted.length; end++) {
		while (sorted[end]! - sorted[start]! >= windowMs) start++;
		most = Math.max(most, end - start + 1);
	}
	return most;
}

/**
 * budgetUtilization = counted PATCH calls ÷ (limit × backlogSeconds ÷ windowSeconds): the calls made while
 * updates were waiting, as a share of the calls the limit allowed in that time. "Counted" calls are those
 * Outreach charged to the limit (a 429 is not charged, and does no work). backlogSeconds runs from the first
 * ingest request until the last update reached its final state.
 *
 * Over a run of a few windows it can exceed 1: a budget that starts idle allows a whole window's worth at once
 * and then `limit` more per window, so a backlog that ends just after k windows can carry (k + 1) × limit
 * calls. On long runs it tends to the steady rate's share of the limit.
 */
export function budgetUtilization(calls: number, limit: number, windowSeconds: number, backlogSeconds: number): number {
	const allowed = (limit * backlogSeconds) / windowSeconds;
	return allowed > 0 ? round(calls / allowed, 3) : 0;
}
