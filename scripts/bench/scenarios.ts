/**
 * What each scenario of `npm run bench` runs (design.md, "Benchmark output"): whether ours has bulk on, whether
 * the peers run, its default size, how long a drain may take, and the local Outreach's bulk and import apply
 * rates on the compressed clock. Kept apart from bench.ts so the choices can be tested without a stack.
 */
import { defaultBulkSettings } from "../../local-outreach/batches.ts";
import { defaultImportSettings } from "../../local-outreach/imports.ts";
import type { Scenario } from "./loads.ts";

export const SCENARIOS: readonly Scenario[] = ["backfill", "stream", "backfill-bulk", "backfill-bulk-mixed"];

/** Outreach's real limit: the one the local Outreach's default apply rates are set against. */
const REAL_CALLS_PER_SECOND = 10_000 / 3600;

/**
 * The local Outreach's bulk and import apply rates at a compressed limit. They keep their items (records) per
 * call-slot of the real limit — not per second — so a bulk path's advantage over PATCH is the same as at the
 * real limit: the compressed clock runs the limit at (limit ÷ window) ÷ (10,000 ÷ 3,600) times its real rate
 * (7.2× at 200 calls per 10 s: 1,440 items/s, 720 records/s).
 */
export function compressedRates(limit: number, windowSeconds: number): { bulkItemsPerSecond: number; importRecordsPerSecond: number } {
	const scale = limit / windowSeconds / REAL_CALLS_PER_SECOND;
	return {
		bulkItemsPerSecond: Math.round(defaultBulkSettings.itemsPerSecond * scale),
		importRecordsPerSecond: Math.round(defaultImportSettings.recordsPerSecond * scale),
	};
}

export type ScenarioPlan = {
	scenario: Scenario;
	/** Ours runs with the destination's `bulkApi: true`. */
	bulkApi: boolean;
	/** aepNative and isolateLimiter run too (the bulk back-fills have the PATCH-only `lowerBound` as reference). */
	peers: boolean;
	/** `--profiles` when not given. */
	defaultProfiles: number;
	/**
	 * The most a drain may take, in seconds, whatever twice the lower bound says: a bulk back-fill's PATCH-only
	 * bound is thousands of compressed seconds, and the run, with start-up, warm-up and reading back up to
	 * 100,000 prospects (about 20 s), must stay under 15 minutes.
	 */
	drainCapSeconds: number | null;
};

/** The plan of `--scenario` with `--bulk`, or what is wrong with them. */
export function planOf(scenario: string, o: { bulk: boolean; limit: number; streamWindows: number }): ScenarioPlan | { error: string } {
	if (!SCENARIOS.includes(scenario as Scenario)) return { error: `--scenario must be one of ${SCENARIOS.join(", ")} (got '${scenario}')` };
	const s = scenario as Scenario;
	if (o.bulk && s !== "stream")
		return { error: `--bulk goes with --scenario stream (${s.startsWith("backfill-bulk") ? `${s} runs ours with bulk on already` : `${s} has no bulk variant`})` };
	const bulkScenario = s === "backfill-bulk" || s === "backfill-bulk-mixed";
	return {
		scenario: s,
		bulkApi: bulkScenario || o.bulk,
		peers: !bulkScenario,
		// backfill: ≥ 20 windows of backlog at the defaults; stream: 80 % of the limit per window; backfill-bulk:
		// 100 windows at one PATCH per prospect; backfill-bulk-mixed: the issue's "at least 100,000 profiles".
		defaultProfiles: { backfill: 4200, stream: Math.round(0.8 * o.limit * o.streamWindows), "backfill-bulk": 20_000, "backfill-bulk-mixed": 100_000 }[s],
		drainCapSeconds: bulkScenario ? 600 : null,
	};
}
