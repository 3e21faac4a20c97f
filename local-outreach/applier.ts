import type { ApiError } from "./errors.ts";
import { withThousands } from "./limits.ts";
import { seededRandom } from "./random.ts";

// Bulk batches and imports are carried out the same way at the local Outreach: a request becomes a job that a
// background applier works through one unit at a time (a batch's item, an import's record) at a rate for the
// whole org, and the org pays for each request's units out of a daily quota. What Outreach does not publish
// about either — rate, order, quota — is a setting, so this one machine serves both with their own settings.


/** How fast an applier goes (units a second, for the whole org) and whether its jobs may finish out of order. */
export type Pace = { perSecond: number; outOfOrder: boolean };

/** Applies one unit of the job at `now`; answers true when the job has nothing left (it then leaves the applier). */
export type ApplyUnit<J> = (job: J, now: number) => boolean;

const TICK_MS = 20;

/**
 * Works through its jobs while any has units left, and stops its timer when none has. With `outOfOrder` each
 * unit goes to a job picked at random (seeded), so jobs progress side by side and a later, smaller job on the
 * same field usually finishes before an earlier one; without it, strictly the oldest job first.
 */
export class Applier<J> {
	readonly #runnable: J[] = [];
	readonly #random = seededRandom(20261129);
	#timer: NodeJS.Timeout | null = null;
	#lastTick = 0;
	#credit = 0;
	readonly #pace: Pace;
	readonly #applyUnit: ApplyUnit<J>;

	constructor(pace: Pace, applyUnit: ApplyUnit<J>) {
		this.#pace = pace;
		this.#applyUnit = applyUnit;
	}

	/** Queues a job with units left and makes sure the applier runs. */
	add(job: J): void {
		this.#runnable.push(job);
		if (this.#timer) return;
		this.#lastTick = Date.now();
		this.#credit = 0;
		this.#timer = setInterval(() => this.#advance(Date.now()), TICK_MS);
		// Never what keeps a process alive: the server does that, and close() stops the timer anyway.
		this.#timer.unref();
	}

	/** Takes a job out (finished or cancelled); the timer stops with the last one. */
	remove(job: J): void {
		const at = this.#runnable.indexOf(job);
		if (at >= 0) this.#runnable.splice(at, 1);
		if (this.#runnable.length === 0) this.stop();
	}

	/** Stops applying: on reset (which forgets every job) and when the server closes. */
	stop(): void {
		if (this.#timer) clearInterval(this.#timer);
		this.#timer = null;
	}

	/** Applies as many units as the org's rate allows since the last tick. */
	#advance(now: number): void {
		if (!this.#timer) return;
		const rate = this.#pace.perSecond;
		// A second's worth at most, so an event loop that was busy catches up without an unbounded burst.
		this.#credit = Math.min(this.#credit + ((now - this.#lastTick) * rate) / 1000, Math.max(1, rate));
		this.#lastTick = now;
		while (this.#credit >= 1 && this.#runnable.length > 0) {
			const at = this.#pace.outOfOrder ? Math.floor(this.#random() * this.#runnable.length) : 0;
			this.#credit -= 1;
			const job = this.#runnable[at]!;
			if (this.#applyUnit(job, now)) this.remove(job);
		}
	}
}

const DAY_MS = 24 * 3600 * 1000;

/** What a daily quota is called in its 429: `{kind: "bulk", units: "items"}` → "the daily bulk quota … items". */
export type QuotaNames = { id: string; title: string; kind: string; units: string };

/**
 * An org's daily quota of units. Like the hourly limit, the day opens at the first request after the previous
 * one ended (no midnight surprises for a test that runs across it).
 */
export class DailyQuota {
	#day: { start: number; used: number } | null = null;
	readonly #names: QuotaNames;

	constructor(names: QuotaNames) {
		this.#names = names;
	}

	/** Charges `units` against `limit` a day, or answers the 429 error (and charges nothing) when they do not fit. */
	charge(units: number, limit: number, now: number): ApiError | null {
		if (!this.#day || now >= this.#day.start + DAY_MS) this.#day = { start: now, used: 0 };
		const left = Math.max(0, limit - this.#day.used);
		if (units <= left) {
			this.#day.used += units;
			return null;
		}
		const { id, title, kind, units: unitName } = this.#names;
		return {
			id,
			title,
			detail:
				`The daily ${kind} quota is exhausted: this request has ${withThousands(units)} ${unitName}, and ${withThousands(left)} of the org's ` +
				`${withThousands(limit)} ${kind} ${unitName} a day are left until ${new Date(this.#day.start + DAY_MS).toISOString()}.`,
		};
	}
}

/** Where a request that pays out of a daily quota is counted: a bulk API's or the imports' state. */
export type QuotaPayer = { quota: DailyQuota; stats: { requests: number; quota429: number } };

/** Counts a well-formed request and charges its units against the org's daily quota, or answers the quota's 429 error. */
export function chargeRequest(payer: QuotaPayer, units: number, limit: number, now: number): ApiError | null {
	payer.stats.requests += 1;
	const exceeded = payer.quota.charge(units, limit, now);
	if (exceeded) payer.stats.quota429 += 1;
	return exceeded;
}
