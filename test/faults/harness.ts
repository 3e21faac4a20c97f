import { afterEach, beforeEach, expect, vi } from "vitest";
import { BENCH_MAPPING, generateLoad, prng, type Load } from "../../scripts/bench/profiles";
import { expectNoStaleWrites } from "../helpers/audit";
import { createConnectedDestination, outreachTokens, resetOutreach, type CreatedDestination } from "../helpers/control";
import {
	expectCountsAddUp,
	failures,
	ingestOk,
	maxInAnyWindow,
	outreachRequests,
	prospectAttributes,
	putMapping,
	settled,
	type Activity,
} from "../helpers/data";
import { faultsFull, faultsSeed } from "../suite-size";

/**
 * The fault suite's harness: a load like the benchmark's (repeats, reordered qualification times), posted as
 * AEP does, and the invariants every fault must keep — each prospect ends in its expected state or its update
 * is listed as failed with a reason; the activity totals add up; no interval of the window's length holds
 * more calls than the limit; and the write audit: no write ever set a field back to an older version.
 */

/** vitest.config.ts runs the Worker with a limit of 100 calls per 5-second window. */
export const LIMIT = 100;
export const WINDOW_MS = 5_000;

/** The short form's size times this in the full run (`npm run test:faults`). */
export const scale = (): number => (faultsFull() ? 4 : 1);

/** How long a scenario may take to settle: retries with backoff under faults take their time. */
export const settleTimeout = (): number => (faultsFull() ? 240_000 : 100_000);

/** A seeded random source for one scenario, so a failure can be replayed with FAULTS_SEED. */
export function random(scenario: number): () => number {
	return prng(faultsSeed() * 31 + scenario);
}

/** A scenario's load: `profiles` over `prospects` starting at `first` (each scenario has its own range). */
export function scenarioLoad(scenario: number, profiles: number, prospects: number, first: number): Load {
	return generateLoad({ profiles, prospects, seed: faultsSeed() + scenario, firstProspect: first });
}

export async function faultDestination(): Promise<CreatedDestination> {
	const d = await createConnectedDestination({ name: "Fault suite" });
	await putMapping(d.id, BENCH_MAPPING);
	return d;
}

/** Posts the profiles (by index) as AEP does: up to 10 per request, `concurrency` requests at once. */
export async function post(d: CreatedDestination, load: Load, indexes: number[], concurrency = 4): Promise<void> {
	const bodies: unknown[][] = [];
	for (let i = 0; i < indexes.length; i += 10) bodies.push(indexes.slice(i, i + 10).map((k) => load.profiles[k]));
	let next = 0;
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (next < bodies.length) {
				const body = bodies[next++]!;
				const answer = await ingestOk(d.id, d.ingestToken, body);
				expect(answer.accepted, JSON.stringify(answer)).toBe(body.length);
			}
		}),
	);
}

/** Indexes 0 … n-1. */
export const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * The invariants, once nothing is pending: every prospect's state at the local Outreach is the expected one;
 * nothing failed (every fault these scenarios inject is transient — only `permanentFaults` may leave an update
 * listed as failed, with a reason); received = rejected + skipped + pending + delivered + failed + superseded,
 * with each profile received once; at most LIMIT calls in any WINDOW_MS.
 */
export async function expectInvariants(d: CreatedDestination, load: Load, opts: { permanentFaults?: boolean } = {}): Promise<Activity> {
	const a = await settled(d.id, settleTimeout());
	expectCountsAddUp(a.totals);
	expect(a.totals.received, "every profile is received exactly once, duplicates or not").toBe(load.profiles.length);
	const listed = await failures(d.id);
	for (const f of listed) expect(f.reason.length, `failure ${f.id} has a reason`).toBeGreaterThan(0);
	if (!opts.permanentFaults) expect(listed.map((f) => `${f.prospectId}: ${f.reason}`), "updates failed although every fault was transient").toEqual([]);
	const failedProspects = new Set(listed.filter((f) => f.status === "failed").map((f) => f.prospectId));
	const wrong: string[] = [];
	await Promise.all(
		[...load.expected].map(async ([id, expected]) => {
			const actual = await prospectAttributes(id);
			const diff = Object.entries(expected).filter(([field, value]) => actual[field] !== value);
			if (diff.length && !failedProspects.has(id))
				wrong.push(`${id}: ${diff.map(([f, v]) => `${f}=${JSON.stringify(actual[f])} (expected ${v})`).join(", ")}`);
		}),
	);
	expect(wrong, `prospects not in their expected state and not listed as failed (seed ${faultsSeed()})`).toEqual([]);
	expect(maxInAnyWindow(await outreachRequests(), WINDOW_MS), "calls in any 5-second interval").toBeLessThanOrEqual(LIMIT);
	return a;
}

/**
 * After Outreach answered 429, no PATCH of that user is sent before the reset it named. Calls already in flight
 * when the 429 came back are exempt: a PATCH that reached Outreach within IN_FLIGHT_MS of the 429 was sent
 * before its answer was known.
 */
export async function expectQuietAfter429(userId = 1): Promise<number> {
	const IN_FLIGHT_MS = 250;
	const log = await outreachRequests();
	const refusals = log.filter((r) => r.status === 429 && r.userId === userId && r.resetAt !== undefined);
	const early = refusals.flatMap((r) =>
		log
			.filter((p) => p.method === "PATCH" && p.userId === userId && p.at > r.at + IN_FLIGHT_MS && p.at < r.resetAt!)
			.map((p) => `PATCH at ${p.at} after a 429 at ${r.at} that reset at ${r.resetAt}`),
	);
	expect(early, "PATCHes sent between a 429 and the reset it named").toEqual([]);
	return refusals.length;
}

/** Every argument of every console call, serialized — Error objects with their message and stack. */
function serialize(arg: unknown): string {
	if (typeof arg === "string") return arg;
	if (arg instanceof Error) return `${arg.name}: ${arg.message}\n${arg.stack ?? ""}`;
	try {
		return JSON.stringify(arg, (_k, v: unknown) => (v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v)) ?? String(arg);
	} catch {
		return String(arg);
	}
}

/**
 * Captures every line the Worker, its Durable Objects and its queue consumer log (they share the test's
 * isolate), so a test can prove no token ever reaches a log.
 */
export function captureLogs(): { lines: string[]; restore(): void } {
	const lines: string[] = [];
	const spies = (["log", "info", "warn", "error", "debug"] as const).map((method) =>
		vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
			lines.push(args.map(serialize).join(" "));
		}),
	);
	return { lines, restore: () => spies.forEach((s) => s.mockRestore()) };
}

/** Asserts that no access or refresh token the local Outreach ever issued appears in `lines`. */
export async function expectNoTokenLogged(lines: string[]): Promise<void> {
	const tokens = (await outreachTokens()).tokens.map((t) => t.value);
	expect(tokens.length, "the run issued tokens").toBeGreaterThan(0);
	const text = lines.join("\n");
	const leaked = tokens.filter((t) => text.includes(t));
	expect(leaked.map((t) => `${t.slice(0, 6)}…`), "tokens found in the logs").toEqual([]);
}

/** Runs `step` at random moments (between `minMs` and `maxMs` apart) until `until` resolves. */
export async function meanwhile(until: Promise<unknown>, rand: () => number, minMs: number, maxMs: number, step: () => Promise<void>): Promise<void> {
	let done = false;
	void until.finally(() => (done = true)).catch(() => {});
	while (!done) {
		await new Promise((r) => setTimeout(r, minMs + rand() * (maxMs - minMs)));
		if (!done) await step();
	}
}

/** The hooks every fault file needs: a fresh local Outreach at the suite's limit, and no token in any log line. */
export function faultRunHooks(): void {
	let logs: ReturnType<typeof captureLogs>;
	beforeEach(async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: WINDOW_MS / 1000 } });
		logs = captureLogs();
	});
	afterEach(async () => {
		try {
			await expectNoStaleWrites();
			await expectNoTokenLogged(logs.lines);
		} finally {
			logs.restore();
		}
	});
}
