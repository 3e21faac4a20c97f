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
 * Outreach's windows over the calls it counted: a fixed window of `windowMs` opens at the first counted call
 * after the previous window ended (not on the clock's hour), as the local Outreach's limit does. Answers each
 * window's start and how many of the calls fell in it.
 */
export function outreachWindows(times: number[], windowMs: number): { start: number; end: number; calls: number }[] {
	const sorted = [...times].sort((a, b) => a - b);
	const out: { start: number; end: number; calls: number }[] = [];
	for (const t of sorted) {
		const last = out[out.length - 1];
		if (last && t < last.end) last.calls++;
		else out.push({ start: t, end: t + windowMs, calls: 1 });
	}
	return out;
}
