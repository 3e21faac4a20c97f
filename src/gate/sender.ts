import { config } from "../platform/config";
import type { OutreachResponse } from "../outreach/api";
import type { Budget } from "./budget";
import type { BulkItems, ItemRow } from "./items";
import type { TokenCustody } from "./tokens";
import { compareVersions } from "../updates/update";
import { fieldOf, versionOf } from "./items";
import { lockKey, type FieldVersions } from "./versions";

export type SenderParts = { items: BulkItems; versions: FieldVersions; budget: () => Budget; tokens: TokenCustody };

/**
 * What the two bulk senders (the bulk API's batches, ./bulk.ts, and imports, ./imports.ts) share: the gate's
 * parts, the budget's one call at a time for each request and poll, and the token a request goes with.
 */
export abstract class BulkSender {
	protected readonly sql: SqlStorage;

	constructor(
		protected readonly storage: DurableObjectStorage,
		protected readonly env: Env,
		protected readonly parts: SenderParts,
	) {
		this.sql = storage.sql;
	}

	protected get cfg() {
		return config(this.env);
	}

	protected get leaseMs(): number {
		return this.cfg.GRANT_LEASE_SECONDS * 1000;
	}

	protected get timeoutMs(): number {
		return this.cfg.OUTREACH_TIMEOUT_SECONDS * 1000;
	}

	/** When a write found busy on the way out wants to be tried again (read once by the send round). */
	private busyAt: number | null = null;

	protected comeBackAt(at: number): void {
		this.busyAt = this.busyAt === null ? at : Math.min(this.busyAt, at);
	}

	protected takeComeBack(): number | null {
		const at = this.busyAt;
		this.busyAt = null;
		return at;
	}

	/**
	 * Checks writes against the versions in one synchronous step: stale ones are decided superseded, landed ones
	 * delivered, busy ones left waiting (`busyUntil`: when to look again); the rest may be sent. A field taken by
	 * an earlier write of the same step is busy for the later ones. Callers check again right before they grant
	 * and lock, after their last await, so no grant made meanwhile is overwritten.
	 */
	protected checked(items: ItemRow[], now: number): { sendable: ItemRow[]; busyUntil: number | null } {
		const lockedNow = new Set<string>();
		const sendable: ItemRow[] = [];
		let busyUntil: number | null = null;
		this.parts.versions.checkMany(
			items.map((i) => ({ destinationId: i.destination_id, prospectId: i.prospect_id, fields: fieldOf(i) })),
			now,
			lockedNow,
			(check, index) => {
				const i = items[index]!;
				if (check.kind === "stale") this.parts.items.decide([i], "superseded");
				else if (check.kind === "done") this.parts.items.decide([i], "delivered");
				else if (check.kind === "busy") busyUntil = Math.max(busyUntil ?? 0, check.until);
				else {
					lockedNow.add(lockKey(i.prospect_id, i.field));
					sendable.push(i);
				}
			},
		);
		return { sendable, busyUntil };
	}

	/**
	 * Of several waiting writes of one (destination, prospect, field), only the newest is sent; the older ones are
	 * superseded by it (as when the consumer merges a prospect's updates into one PATCH): an older status waiting in another
	 * (field, value) group than its newer one is never written, not even before it.
	 */
	protected newestOnly(items: ItemRow[]): ItemRow[] {
		const newest = new Map<string, ItemRow>();
		const older: ItemRow[] = [];
		for (const i of items) {
			const key = `${i.destination_id}\u0000${i.prospect_id}\u0000${i.field}`;
			const seen = newest.get(key);
			if (!seen) newest.set(key, i);
			else if (compareVersions(versionOf(i), versionOf(seen), i.update_id, seen.update_id) > 0) {
				older.push(seen);
				newest.set(key, i);
			} else older.push(i);
		}
		if (older.length) this.parts.items.decide(older, "superseded");
		const dropped = new Set(older);
		return items.filter((i) => !dropped.has(i));
	}

	/**
	 * How many ids (records) one request may carry: the configured number until Outreach answered that a request
	 * was too large, then half of what that request carried, each time (kept under `key`).
	 */
	protected sizeLimit(key: string, configured: number): number {
		return (this.storage.kv.get(key) as number | undefined) ?? configured;
	}

	protected halveSizeLimit(key: string, configured: number, sent: number): number {
		const halved = Math.max(1, Math.floor(Math.min(this.sizeLimit(key, configured), sent) / 2));
		this.storage.kv.put(key, halved);
		return halved;
	}

	/**
	 * When to look first at a job sent at `sentAt` that should be done at `doneAt` (./engine.ts): a little after,
	 * so the look finds it done; within its lease, so a job that runs is renewed in time — and within its first
	 * lease whatever renewed it since, so a plan that is off is found out within a lease.
	 */
	protected firstLookAt(doneAt: number, now: number, sentAt: number, leaseUntil: number): number {
		return Math.max(now, Math.min(now + Math.max(250, (doneAt - now) * 1.05 + 100), leaseUntil - 1_000, sentAt + this.leaseMs - 1_000));
	}

	/**
	 * When to look again at a job that is not done: when the plan says it should be, while the plan points ahead;
	 * once the plan is overrun (the engine is slower than it showed, or busy with others' work), at growing
	 * intervals from the job's start. Within a lease from now whatever the plan says (a plan that is off is found
	 * out), and never after `latest` (its lease's end).
	 */
	protected againAt(plannedAt: number, now: number, startedAt: number, latest: number): number {
		const backoff = now + Math.max(1_000, Math.min(now - startedAt, this.leaseMs / 3));
		const at = plannedAt > now + 1_000 ? Math.min(plannedAt, now + this.leaseMs) : backoff;
		return Math.min(at, latest);
	}

	protected abstract send(now: number): Promise<number | null>;
	protected abstract poll(now: number): Promise<number | null>;

	/** Polls what runs and sends what is ready; answers when to come back (null: idle). */
	async run(now: number): Promise<number | null> {
		// Polls first: a look that finds the engine free sooner than planned lets held groups go in the same round;
		// and again after sending, which answers (at least) when the jobs just sent are first looked at.
		await this.poll(now);
		const nextSend = await this.send(Date.now());
		const nextPoll = await this.poll(Date.now());
		const times = [nextSend, nextPoll].filter((t): t is number => t !== null);
		return times.length ? Math.min(...times) : null;
	}

	/**
	 * The token a request for these writes goes with: any connected destination of this user speaks for the
	 * user. Writes of destinations that need a reconnect are decided held; `retryAt` when the token endpoint is
	 * unavailable now.
	 */
	protected async tokenFor(byDestination: Map<string, ItemRow[]>): Promise<{ owner: string; token: string } | { retryAt: number } | null> {
		let found: { owner: string; token: string } | null = null;
		for (const [d, its] of byDestination) {
			const access = await this.parts.tokens.accessToken(d);
			if (access.ok) found ??= { owner: d, token: access.token };
			else if (access.status === "unavailable") return { retryAt: Date.now() + access.retryAfterMs };
			else this.parts.items.decide(its, "hold", access.reason);
		}
		return found;
	}

	/** A grant for one request, poll or page; a time to come back when there is none now. */
	protected oneCall(): { grantId: number } | { at: number } {
		const budget = this.parts.budget();
		const [d] = budget.grant([undefined], Date.now());
		if (d && "grantId" in d) return { grantId: d.grantId };
		if (d) budget.release([d.reservation]);
		return { at: d?.at ?? Date.now() + 1_000 };
	}

	/** A call spent its grant: settle it when Outreach answered, and learn what it said of the window. */
	protected spent(grantId: number, res: OutreachResponse): void {
		const budget = this.parts.budget();
		budget.settle([{ id: grantId, at: Date.now() }]);
		if (res.rate.remaining !== undefined && res.rate.resetAt !== undefined && res.status !== 429) budget.observe(grantId, res.rate.remaining, res.rate.resetAt, Date.now());
	}
}

/** Groups writes by destination. */
export function byDestination(items: ItemRow[]): Map<string, ItemRow[]> {
	const out = new Map<string, ItemRow[]>();
	for (const i of items) (out.get(i.destination_id) ?? out.set(i.destination_id, []).get(i.destination_id)!).push(i);
	return out;
}
