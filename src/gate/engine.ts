/**
 * Outreach's background engine for one kind of bulk job (the bulk API's batches, imports), as the gate sees it
 * for its Outreach user: how fast it applied our jobs, and when the work we gave it should be done. Used by the
 * two bulk senders (./bulk.ts, ./imports.ts) only.
 *
 * Outreach publishes neither the pace nor whether an org's jobs run one after another or side by side
 * (reference/outreach-bulk.md), so both are read from our own jobs' times and either answer works:
 * - the pace is the units of our finished jobs over the time the engine was busy with them — the union of their
 *   spans, from start (or creation) to finish, on Outreach's own clock — so jobs run side by side are not
 *   counted twice, and a job queued behind another is not counted as slow;
 * - `freeAt` is when, on our clock, the engine should have applied everything we sent.
 *
 * What it is for: sending a group while our own jobs keep the engine busy only queues it behind them in
 * Outreach, its fields locked and looked at, while here it could still be gathering (./path.ts `groupReady`);
 * and a job is first looked at when it should be done, not soon after it was sent.
 */

/** What is kept under the engine's key: decayed sums, so the pace follows the engine as it changes. */
type State = { units: number; busyMs: number; coveredUntil: number; freeAt: number };

/** How much of the past a new finished job's busy time leaves in the pace (about the last few jobs count). */
const DECAY = 0.7;

/** A job still running: its units left, as last seen. */
export type EngineJob = { id: number; units: number };

/**
 * When each of `jobs` (running, in the order sent) should be done, from `from` at `perMs` units a millisecond,
 * and when all should: the engine's `freeAt`. Whether Outreach works through an org's jobs one after another or
 * side by side is not published, so a job is planned at the later of the two: after the jobs sent before it
 * (one after another), and after its share of every job's work (side by side: each job is done once the engine
 * applied as many units of every other job as it has itself). A look then never comes early under either.
 */
export function planAhead(from: number, jobs: readonly EngineJob[], perMs: number): { doneAt: Map<number, number>; freeAt: number } {
	// Side by side, with the jobs' units sorted: a job's share is the units of the smaller ones, plus its own for each larger one.
	const sorted = jobs.map((j) => j.units).sort((a, b) => a - b);
	const shares = new Map<number, number>();
	let below = 0;
	sorted.forEach((u, i) => {
		if (!shares.has(u)) shares.set(u, below + u * (sorted.length - i));
		below += u;
	});
	const doneAt = new Map<number, number>();
	let inOrder = 0;
	for (const j of jobs) {
		inOrder += j.units;
		doneAt.set(j.id, from + Math.max(inOrder, shares.get(j.units)!) / perMs);
	}
	return { doneAt, freeAt: from + below / perMs };
}

/** A time Outreach answered (ISO 8601), in epoch ms; undefined when absent or unreadable. */
export function outreachTime(at: string | null | undefined): number | undefined {
	const t = at ? Date.parse(at) : NaN;
	return Number.isFinite(t) ? t : undefined;
}

export class OutreachEngine {
	constructor(
		private readonly kv: SyncKvStorage,
		private readonly key: string,
		/** Units a millisecond before any job of ours finished: the local Outreach's pessimistic default. */
		private readonly assumedPerMs: number,
	) {}

	private get state(): State {
		return (this.kv.get(this.key) as State | undefined) ?? { units: 0, busyMs: 0, coveredUntil: 0, freeAt: 0 };
	}

	private save(s: State): void {
		this.kv.put(this.key, s);
	}

	/** Whether a finished job taught the pace yet. */
	get learnt(): boolean {
		return this.state.units > 0;
	}

	/** Units a millisecond: learnt from finished jobs, or the assumed pace before any. */
	get perMs(): number {
		const s = this.state;
		return s.units > 0 ? s.units / Math.max(1, s.busyMs) : this.assumedPerMs;
	}

	/** When the engine should have applied everything we sent (our clock). */
	get freeAt(): number {
		return this.state.freeAt;
	}

	/** What the engine still has of ours, as last seen: it should be free at `freeAt`. */
	replanned(freeAt: number): void {
		this.save({ ...this.state, freeAt });
	}

	/**
	 * A job of ours finished: `units` applied between `startedAt` (its start, or its creation when Outreach gives
	 * no start) and `finishedAt`, on one clock. Only the part of that span not already counted is busy time.
	 */
	learn(units: number, startedAt: number, finishedAt: number): void {
		if (!(units > 0) || !(finishedAt >= startedAt)) return;
		const s = this.state;
		const busy = Math.max(0, finishedAt - Math.max(startedAt, s.coveredUntil));
		// The past fades only as new busy time is counted: a job run inside spans already counted adds its units
		// to the time they were counted with.
		const keep = busy > 0 ? DECAY : 1;
		this.save({ ...s, units: s.units * keep + units, busyMs: s.busyMs * keep + busy, coveredUntil: Math.max(s.coveredUntil, finishedAt) });
	}
}

/**
 * The pace Outreach's engine is assumed to have before any job of ours finished: the local Outreach's default
 * (`perSecond` at the real limit), on the configured clock — a compressed window (tests, the benchmark) runs
 * the limit faster than 10,000 calls an hour, and the engines with it.
 */
export function assumedPerMs(perSecond: number, cfg: { OUTREACH_RATE_LIMIT: number; OUTREACH_RATE_WINDOW_SECONDS: number }): number {
	const scale = cfg.OUTREACH_RATE_LIMIT / cfg.OUTREACH_RATE_WINDOW_SECONDS / (10_000 / 3600);
	return (perSecond * Math.max(1, scale)) / 1000;
}
