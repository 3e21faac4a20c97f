import { env } from "cloudflare:test";
import { afterEach, beforeEach, expect } from "vitest";
import { BENCH_MAPPING } from "../../scripts/bench/profiles";
import { crashAt, disarmAll, type CrashPointName } from "../../src/platform/crashpoints";
import { metrics } from "../../src/platform/metrics";
import { auditHooks } from "./audit";
import { createConnectedDestination, resetOutreach, type CreatedDestination } from "./control";
import { expectCountsAddUp, failures, ingestOk, prospectAttributes, putMapping, settled } from "./data";

/**
 * Nothing lost, nothing stuck, nothing doubled (design: "Holding and handing off"). At each hand-off between
 * ingest, the queue, the consumer and the ledger, the Worker is made to fail once (src/platform/crashpoints.ts), on a
 * load larger than the budget (100 calls per 5 s), so deferrals and re-sends are part of every run. Each ends
 * with every update delivered — the write audit shows no older value ever applied, and at most the one allowed
 * identical repeat of a PATCH — counts that add up, nothing pending, and nothing listed failed.
 */

/** The hooks every hand-off file installs: the write audit, a rate-limited local Outreach, no crash point left armed. */
export function handOffHooks(): void {
	auditHooks();
	beforeEach(async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
	});
	afterEach(() => disarmAll());
}

const PROFILES = 160;
const PROSPECTS = 130;

let scenario = 0;

export type Load = { profiles: unknown[]; expected: Map<number, Record<string, string>> };

/**
 * 160 profiles over 130 prospects, every version with a value of its own (so a repeated write is a repeated
 * PATCH, not a new version that happens to carry the same value), later qualification for later profiles.
 */
function loadFor(first: number): Load {
	const seg = BENCH_MAPPING.segments[0]!;
	const profiles: unknown[] = [];
	const expected = new Map<number, Record<string, string>>();
	for (let k = 0; k < PROFILES; k++) {
		const id = first + (k % PROSPECTS);
		const status = k < PROSPECTS ? "realized" : "exited"; // a prospect's second version changes its status
		profiles.push({
			person: { name: { firstName: `V${k}` } },
			segmentMembership: { ups: { [seg.segmentId]: { status, lastQualificationTime: new Date(Date.UTC(2026, 10, 1) + k * 1000).toISOString() } } },
			identityMap: { Oid: [{ id: String(id) }] },
		});
		expected.set(id, { firstName: `V${k}`, [`custom${seg.mappingId}`]: status });
	}
	return { profiles, expected };
}

export async function destinationWithLoad(): Promise<{ d: CreatedDestination; load: Load }> {
	scenario++;
	const d = await createConnectedDestination({ name: `Hand-offs ${scenario}` });
	await putMapping(d.id, BENCH_MAPPING);
	return { d, load: loadFor(2000 + scenario * 200) };
}

/** Posts the load as AEP does: 10 profiles a request, one request at a time. */
export async function post(d: CreatedDestination, load: Load): Promise<void> {
	for (let i = 0; i < load.profiles.length; i += 10) await ingestOk(d.id, d.ingestToken, load.profiles.slice(i, i + 10));
}

/**
 * The invariants after a crash: all delivered in its expected state, nothing failed or pending, and no
 * identical write repeated more than `repeats` times (a crash between PATCHes and their settle repeats each of
 * those PATCHes once: their versions were never confirmed).
 */
export async function expectWhole(d: CreatedDestination, load: Load, opts: { repeats: number }): Promise<void> {
	const a = await settled(d.id, 90_000);
	expectCountsAddUp(a.totals);
	expect(a.totals).toMatchObject({ received: load.profiles.length, pending: 0, failed: 0, held: 0 });
	expect(await failures(d.id)).toEqual([]);
	const wrong: string[] = [];
	for (const [id, expected] of load.expected) {
		const actual = await prospectAttributes(id);
		for (const [field, value] of Object.entries(expected)) if (actual[field] !== value) wrong.push(`${id}.${field}=${String(actual[field])}, expected ${value}`);
	}
	expect(wrong).toEqual([]);
	// A PATCH repeated with the same values: allowed once per crash between a PATCH and its settle.
	const { writes } = (await (await fetch(`${env.OUTREACH_API_BASE}/__fake/writes`)).json()) as { writes: { prospectId: number; field: string; value: unknown }[] };
	const seen = new Map<string, number>();
	for (const w of writes) {
		const key = `${w.prospectId}/${w.field}/${JSON.stringify(w.value)}`;
		seen.set(key, (seen.get(key) ?? 0) + 1);
	}
	const repeatedMost = Math.max(0, ...[...seen.values()].map((c) => c - 1));
	expect(repeatedMost, "the most times one identical write was repeated").toBeLessThanOrEqual(opts.repeats);
}

export async function crashScenario(point: CrashPointName, times: number, repeats = 0): Promise<void> {
	const { d, load } = await destinationWithLoad();
	const sentBefore = metrics.queueMessagesSent;
	crashAt(point, times);
	await post(d, load);
	await expectWhole(d, load, { repeats });
	// Copies never multiply: one message per request, plus the deferrals' re-sends (packed per batch).
	expect(metrics.queueMessagesSent - sentBefore, "queue messages").toBeLessThan(load.profiles.length / 10 + 60);
}

