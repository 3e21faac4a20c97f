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
 * - the backlog is what the engine still has of ours: what we sent, less what the pace applied since; the
 *   engine is free of our work at `freeAt`.
 *
 * What it is for: sending a group while our own jobs keep the engine busy only queues it behind them in
 * Outreach, its fields locked and looked at, while here it could still be gathering (./path.ts `groupReady`);
 * and a job is first looked at when it should be done — after the backlog sent before it and its own units,
 * exact when the engine goes one job after another; side by side, a job not done by then is looked at again
 * at the pace it showed (./bulk.ts, ./imports.ts).
 */

/**
 * What is kept under the engine's key: decayed sums, so the pace follows the engine as it changes; the current
 * busy period's own sums (`period*`: since the engine last had none of our jobs); and `floorPerMs`, the pace the
 * last whole busy period showed.
 */
type State = {
	units: number;
	busyMs: number;
	coveredUntil: number;
	periodUnits?: number;
	periodBusyMs?: number;
	floorPerMs?: number;
	/** The last finished job ran beside others of ours that had started: a busy period's jobs finish together. */
	sideBySide?: boolean;
	/** Units of ours the engine had left at `backlogAt` (our clock). */
	backlog?: number;
	backlogAt?: number;
};

/** How much of the past a new finished job's busy time leaves in the pace (about the last few jobs count). */
const DECAY = 0.7;

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
		return (this.kv.get(this.key) as State | undefined) ?? { units: 0, busyMs: 0, coveredUntil: 0 };
	}

	private save(s: State): void {
		this.kv.put(this.key, s);
	}

	/** Whether a finished job taught the pace yet. */
	get learnt(): boolean {
		return this.state.units > 0;
	}

	/**
	 * Units a millisecond. Run one after another, finished jobs read the pace right at once. Run side by side,
	 * they finish together near the end of a busy period, and until then the finished ones read slow (their
	 * spans hold the others' work too): the pace is then never taken below what the last whole busy period
	 * showed (the assumed pace before one ended).
	 */
	get perMs(): number {
		const s = this.state;
		const floor = s.floorPerMs ?? this.assumedPerMs;
		if (s.units <= 0) return floor;
		const read = s.units / Math.max(1, s.busyMs);
		return s.sideBySide ? Math.max(floor, read) : read;
	}

	/** The units of ours the engine should still have at `now`. */
	backlog(now: number): number {
		const s = this.state;
		return Math.max(0, (s.backlog ?? 0) - this.perMs * Math.max(0, now - (s.backlogAt ?? now)));
	}

	/** When the engine should have applied everything we sent (our clock). */
	freeAt(now: number): number {
		return now + this.backlog(now) / this.perMs;
	}

	/** A job of `units` sent at `now`: when it should be done, after the backlog sent before it. */
	sent(units: number, now: number): number {
		const ahead = this.backlog(now);
		this.save({ ...this.state, backlog: ahead + units, backlogAt: now });
		return now + (ahead + units) / this.perMs;
	}

	/** None of our jobs is running any more: the engine has nothing of ours. */
	idle(now: number): void {
		this.save({ ...this.state, backlog: 0, backlogAt: now });
	}

	/**
	 * A job of ours finished: `units` applied between `startedAt` (its start, or its creation when Outreach gives
	 * no start) and `finishedAt`, on one clock. Only the part of that span not already counted is busy time.
	 * `lastOfPeriod`: no other job of ours is running, so the busy period's pace is known whole; `sideBySide`:
	 * others of ours that had started were running when it finished.
	 */
	learn(units: number, startedAt: number, finishedAt: number, o: { lastOfPeriod: boolean; sideBySide: boolean }): void {
		const s = this.state;
		if (!(units > 0) || !(finishedAt >= startedAt)) return;
		const busy = Math.max(0, finishedAt - Math.max(startedAt, s.coveredUntil));
		// The past fades only as new busy time is counted: a job run inside spans already counted adds its units
		// to the time they were counted with.
		const keep = busy > 0 ? DECAY : 1;
		const periodUnits = (s.periodUnits ?? 0) + units;
		const periodBusyMs = (s.periodBusyMs ?? 0) + busy;
		const ended = o.lastOfPeriod && periodBusyMs > 0;
		this.save({
			...s,
			units: s.units * keep + units,
			busyMs: s.busyMs * keep + busy,
			coveredUntil: Math.max(s.coveredUntil, finishedAt),
			sideBySide: o.sideBySide,
			periodUnits: ended ? 0 : periodUnits,
			periodBusyMs: ended ? 0 : periodBusyMs,
			...(ended ? { floorPerMs: periodUnits / periodBusyMs } : {}),
		});
	}

	/**
	 * A job of ours seen finished: from Outreach's own start (or creation) and finish times when it gave both,
	 * else from ours (sent, seen finished) — one clock either way.
	 */
	learnJob(units: number, outreach: { startedAt?: number; finishedAt?: number }, ours: { sentAt: number; seenAt: number }, o: { lastOfPeriod: boolean; sideBySide: boolean }): void {
		if (outreach.startedAt !== undefined && outreach.finishedAt !== undefined) this.learn(units, outreach.startedAt, outreach.finishedAt, o);
		else this.learn(units, ours.sentAt, ours.seenAt, o);
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
