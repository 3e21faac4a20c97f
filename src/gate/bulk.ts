import { log } from "../platform/log";
import { count } from "../platform/metrics";
import { batchEnded, batchItems, bulkModify, cancelBatch, getBatch, type Batch, type BatchItem } from "../outreach/bulk";
import { assumedPerMs, OutreachEngine, outreachTime } from "./engine";
import { classifyBulk, fieldFailureReason } from "../outreach/outcome";
import { fieldOf, settleItems, type BulkItems, type ItemRow } from "./items";
import { groupReady } from "./path";
import { BulkSender, byDestination, type SenderParts } from "./sender";

/**
 * Segment statuses delivered through Outreach's bulk API, inside the gate (design: "Outreach's bulk API"). A
 * segment's status is the same value for every member of a (field, value) group, which is exactly one bulk
 * modify: the segment-only updates the gate took for bulk (`bulk_items`, ./items.ts, `via` modify) are grouped
 * by field and value across batches and destinations, and each group goes — once full or no longer filling
 * (./path.ts `groupReady`) — as requests of at most OUTREACH_BULK_MAX_IDS explicit ids (halved when Outreach
 * says the request is too large).
 *
 * - Every bulk request, poll and page of items is one call of the same budget as the PATCHes.
 * - The (prospect, field) versions of a running batch stay locked under a lease, renewed while the batch makes
 *   progress; a batch that stops progressing or whose state cannot be learned is cancelled when its lease ends,
 *   its items are read, and its fields released — so a slow batch never overwrites a newer PATCH.
 * - Finished items are delivered; failed items fail their updates with Outreach's `info`; items a batch did not
 *   apply go back by PATCH. When Outreach refuses bulk (403, 404, a 422 other than size) or the bulk quota is
 *   spent, the destination falls back to PATCH for a while — the quota's 429 does not pause the PATCH budget.
 * - Each update's outcome goes to its ledger once all of its fields are decided (./items.ts).
 */

type BatchRow = {
	id: number;
	owner: string;
	grant_id: number;
	started_at: number;
	lease_until: number;
	next_poll_at: number;
	last_pending: number;
	last_polled_at: number;
	total: number;
};

/** The local Outreach's default pace for a batch's items (reference/outreach-bulk.md: not published). */
const ASSUMED_ITEMS_PER_SECOND = 200;

/** After Outreach refused a bulk request, the destination delivers by PATCH this long before trying bulk again. */
export const REFUSED_FALLBACK_MS = 3600_000;

/**
 * A group's writes as bulk requests, in order: each with at least one and at most `maxIds` distinct prospects,
 * every write in exactly one. (The group holds one write per prospect: its field is locked per prospect.)
 */
export function bulkChunks<T extends { prospect_id: number }>(items: T[], maxIds: number): T[][] {
	const size = Math.max(1, Math.floor(maxIds));
	const chunks: T[][] = [];
	let current: T[] = [];
	let ids = new Set<number>();
	for (const item of items) {
		if (!ids.has(item.prospect_id) && ids.size >= size) {
			chunks.push(current);
			current = [];
			ids = new Set();
		}
		current.push(item);
		ids.add(item.prospect_id);
	}
	if (current.length) chunks.push(current);
	return chunks;
}

export class BulkDelivery extends BulkSender {
	constructor(storage: DurableObjectStorage, env: Env, parts: SenderParts) {
		super(storage, env, parts);
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS bulk_batches (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, grant_id INTEGER NOT NULL, started_at INTEGER NOT NULL,
				lease_until INTEGER NOT NULL, next_poll_at INTEGER NOT NULL, last_pending INTEGER NOT NULL, last_polled_at INTEGER NOT NULL, total INTEGER NOT NULL);
		`);
	}

	/** Outreach's engine for this user's batches. */
	private get engine(): OutreachEngine {
		return new OutreachEngine(this.storage.kv, "engine.modify", assumedPerMs(ASSUMED_ITEMS_PER_SECOND, this.cfg));
	}

	/** Ids per bulk request: OUTREACH_BULK_MAX_IDS, halved each time Outreach answered that a request was too large. */
	private get maxIds(): number {
		return this.sizeLimit("bulk.maxIds", this.cfg.OUTREACH_BULK_MAX_IDS);
	}

	// ─── sending ───

	protected async send(now: number): Promise<number | null> {
		const waiting = this.newestOnly(this.parts.items.waiting("modify", 100_000));
		if (waiting.length === 0) return null;
		const groups = new Map<string, ItemRow[]>();
		for (const item of waiting) {
			const key = `${item.field}\u0000${item.value}`;
			(groups.get(key) ?? groups.set(key, []).get(key)!).push(item);
		}
		let comeBack: number | null = null;
		const soonest = (t: number) => (comeBack = comeBack === null ? t : Math.min(comeBack, t));
		const running = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM bulk_batches`).one().n > 0;
		const freeAt = this.engine.freeAt(now);
		for (const items of groups.values()) {
			// A group waits for more of its writes only while it is still filling (and our batches keep the engine busy).
			const oldestAt = Math.min(...items.map((i) => i.queued_at));
			const ready = groupReady(
				{ size: new Set(items.map((i) => i.prospect_id)).size, max: this.maxIds, oldestAt, newestAt: Math.max(...items.map((i) => i.queued_at)) },
				now,
				this.cfg.OUTREACH_RATE_WINDOW_SECONDS,
				running ? { freeAt, holdUntil: oldestAt + this.leaseMs } : undefined,
			);
			if (ready !== true) {
				soonest(ready);
				continue;
			}
			const next = await this.sendGroup(items, Date.now());
			if (next !== null) soonest(next);
		}
		return comeBack;
	}

	/** Checks a group's versions, then sends the fresh writes in requests of at most maxIds ids. */
	private async sendGroup(items: ItemRow[], now: number): Promise<number | null> {
		// One read of the versions for the whole group; two destinations writing one prospect's field: the first
		// takes it now, the other is busy and waits its turn.
		const { sendable: fresh, busyUntil } = this.checked(items, now);
		let comeBack: number | null = busyUntil;
		let left = fresh;
		while (left.length) {
			const [chunk] = bulkChunks(left, this.maxIds);
			const outcome = await this.sendChunk(chunk!, Date.now());
			const busy = this.takeComeBack();
			if (busy !== null) comeBack = comeBack === null ? busy : Math.min(comeBack, busy);
			if (outcome === "too_large") continue; // maxIds was halved: the same items, smaller
			left = left.slice(chunk!.length);
			if (typeof outcome === "number") {
				// The budget or Outreach said later: what is left of the group waits.
				comeBack = comeBack === null ? outcome : Math.min(comeBack, outcome);
				break;
			}
		}
		return comeBack;
	}

	/**
	 * One bulk request for a chunk of one group. Answers "sent" (a batch runs, or its writes were decided),
	 * "too_large" (halved: send again), or a time to come back (budget, 429, transient trouble).
	 */
	private async sendChunk(chunk: ItemRow[], now: number): Promise<"sent" | "too_large" | number> {
		const groups = byDestination(chunk);
		const access = await this.tokenFor(groups);
		if (access && "retryAt" in access) return access.retryAt;
		if (!access) return "sent";
		const { owner, token } = access;
		// Checked again in the same synchronous step as the grant and the locks (see BulkSender.checked).
		const { sendable: live, busyUntil } = this.checked(chunk.filter((i) => i.state === "waiting" && !this.parts.items.isDecided(i.id)), Date.now());
		if (busyUntil !== null) this.comeBackAt(busyUntil);
		if (live.length === 0) return "sent";
		const [decision] = this.parts.budget().grant([undefined], Date.now());
		if (!decision || !("grantId" in decision)) {
			if (decision) this.parts.budget().release([decision.reservation]);
			return decision?.at ?? Date.now() + 1_000;
		}
		const grantId = decision.grantId;
		const leaseUntil = Date.now() + this.leaseMs;
		this.parts.versions.advanceMany(live.map((i) => ({ destinationId: i.destination_id, prospectId: i.prospect_id, fields: fieldOf(i), grantId, leaseUntil })), Date.now());
		this.parts.items.sending(live, grantId);
		const ids = [...new Set(live.map((i) => i.prospect_id))];
		const field = live[0]!.field;
		const value: unknown = JSON.parse(live[0]!.value);
		count("bulkCalls");
		const { res, batch } = await bulkModify(this.cfg.OUTREACH_API_BASE, token, field, value, ids, this.timeoutMs);
		this.spent(grantId, res);
		const outcome = classifyBulk(res);
		const release = (delivered: boolean) => {
			settleItems(this.parts.versions, live, grantId, { delivered, known: true });
		};
		switch (outcome.kind) {
			case "ok": {
				if (!batch) {
					// Started, but its batch cannot be read: its writes stay locked until the lease ends, and go by PATCH.
					this.parts.items.decide(live, "patch", "Outreach's answer to a bulk request could not be read");
					return "sent";
				}
				const sentAt = Date.now();
				const engine = this.engine;
				const doneAt = engine.sent(batch.pending, sentAt);
				this.sql.exec(
					`INSERT OR REPLACE INTO bulk_batches (id, owner, grant_id, started_at, lease_until, next_poll_at, last_pending, last_polled_at, total)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					batch.id,
					owner,
					grantId,
					now,
					leaseUntil,
					this.firstLookAt(doneAt, sentAt, sentAt, leaseUntil),
					batch.pending,
					sentAt,
					batch.total,
				);
				this.parts.items.runningIn(live, batch.id);
				log("info", "bulk_batch_started", {
					batchId: batch.id,
					field,
					ids: ids.length,
					destinations: groups.size,
					// What the gate expects of Outreach's engine: its pace, and when it should be done with this batch.
					enginePerSecond: Math.round(engine.perMs * 1000),
					doneInMs: Math.round(doneAt - sentAt),
				});
				return "sent";
			}
			case "too_large": {
				release(false);
				this.parts.items.backToWaiting(live);
				const halved = this.halveSizeLimit("bulk.maxIds", this.cfg.OUTREACH_BULK_MAX_IDS, ids.length);
				log("warn", "bulk_request_too_large", { ids: ids.length, nowAtMost: halved });
				return "too_large";
			}
			case "refused":
				release(false);
				this.parts.items.fallBack("modify", groups.keys(), `Outreach refused a bulk request (${outcome.reason}); segment statuses go by PATCH`, Date.now() + REFUSED_FALLBACK_MS);
				this.parts.items.decide(live, "patch", outcome.reason);
				return "sent";
			case "quota": {
				release(false);
				// The bulk API's own quota, not the hourly limit: every bulk destination of this user goes by PATCH.
				this.parts.items.fallBack("modify", new Set([...groups.keys(), ...this.parts.items.destinations()]), `Outreach's daily bulk quota is used up (${outcome.reason}); segment statuses go by PATCH`, outcome.until);
				this.parts.items.decide(live, "patch", outcome.reason);
				return "sent";
			}
			case "rate_limited":
				release(false);
				this.parts.budget().pause(outcome.until);
				this.parts.items.backToWaiting(live);
				return outcome.until;
			case "refresh":
				release(false);
				await this.parts.tokens.accessToken(owner, token);
				this.parts.items.backToWaiting(live);
				return Date.now() + 1_000;
			case "transient":
				// The request may or may not have started a batch: its writes stay locked until the lease ends.
				settleItems(this.parts.versions, live, grantId, { delivered: false, known: false });
				this.parts.items.backToWaiting(live);
				return leaseUntil;
		}
	}

	// ─── polling ───

	protected async poll(now: number): Promise<number | null> {
		const batches = this.sql.exec<BatchRow>(`SELECT * FROM bulk_batches ORDER BY next_poll_at`).toArray();
		let comeBack: number | null = null;
		const soonest = (t: number) => (comeBack = comeBack === null ? t : Math.min(comeBack, t));
		for (const b of batches) {
			if (b.next_poll_at > now) {
				soonest(b.next_poll_at);
				continue;
			}
			const next = await this.pollOne(b);
			if (next !== null) soonest(next);
		}
		return comeBack;
	}

	/** Looks at one running batch; answers when to look again (null: it is over). */
	private async pollOne(b: BatchRow): Promise<number | null> {
		const access = await this.parts.tokens.accessToken(b.owner);
		if (!access.ok) {
			if (b.lease_until <= Date.now()) return this.abandon(b, `the connection cannot read the batch (${access.reason})`);
			return Math.min(b.lease_until, Date.now() + 5_000);
		}
		const call = this.oneCall();
		if ("at" in call) return this.reschedule(b, Math.min(call.at, Math.max(b.lease_until, Date.now() + 1_000)));
		count("pollCalls");
		const { res, batch } = await getBatch(this.cfg.OUTREACH_API_BASE, access.token, b.id, this.timeoutMs);
		this.spent(call.grantId, res);
		const now = Date.now();
		const engine = this.engine;
		if (batch && batchEnded(batch)) {
			if (batch.state === "finished") {
				const others = this.sql.exec<{ n: number; started: number }>(`SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE last_pending < total) AS started FROM bulk_batches WHERE id != ?`, b.id).one();
				engine.learnJob(
					batch.total,
					{ startedAt: outreachTime(batch.startedAt) ?? outreachTime(batch.createdAt), finishedAt: outreachTime(batch.finishedAt) ?? outreachTime(batch.updatedAt) },
					{ sentAt: b.started_at, seenAt: now },
					{ lastOfPeriod: others.n === 0, sideBySide: others.started > 0 },
				);
				this.renewOthers(b);
			}
			const next = await this.finish(b, batch, access.token);
			if (this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM bulk_batches`).one().n === 0) engine.idle(Date.now());
			return next;
		}
		if (batch && batch.pending < b.last_pending) {
			// Progress: the lease is renewed, and the next look comes when the rest should be done.
			const leaseUntil = now + this.leaseMs;
			this.parts.versions.renew(b.grant_id, leaseUntil);
			this.sql.exec(`UPDATE bulk_batches SET lease_until = ?, last_pending = ?, last_polled_at = ? WHERE id = ?`, leaseUntil, batch.pending, now, b.id);
			// At the pace this batch showed since the last look, or the engine's if slower: side by side, a batch gets
			// a share of the engine; one after another, all of it once started.
			const shown = Math.max(1e-6, (b.last_pending - batch.pending) / Math.max(1, now - b.last_polled_at));
			this.renewOthers(b);
			// And not sooner than the time since the last look: a batch whose share keeps shrinking (more jobs side by
			// side) is looked at a few times, not ever more often.
			const at = now + Math.max((batch.pending / Math.min(engine.perMs, shown)) * 1.05 + 100, now - b.last_polled_at);
			return this.reschedule(b, Math.max(now + 250, Math.min(at, leaseUntil - 1_000)));
		}
		const said = classifyBulk(res, now);
		if (said.kind === "rate_limited") this.parts.budget().pause(said.until);
		// No progress, or no readable answer: the lease runs out, then the batch is cancelled.
		if (b.lease_until <= now) return this.abandon(b, batch ? `it made no progress for ${Math.round(this.leaseMs / 1000)} s (state '${batch.state}')` : "its state could not be learned");
		// Not started yet: it waits behind what Outreach still has of ours sent before it (as last seen: at most that).
		const ahead = this.sql.exec<{ n: number | null }>(`SELECT SUM(last_pending) AS n FROM bulk_batches WHERE (started_at, id) <= (?, ?)`, b.started_at, b.id).one().n ?? 0;
		return this.reschedule(b, this.againAt(now + ahead / engine.perMs, now, b.started_at, b.lease_until));
	}

	/**
	 * A look saw `b` progress or finish: the other running batches keep their fields a lease from now. Outreach is
	 * working through our batches, so theirs are known to wait their turn, not lost — a longer lock never lets an
	 * older value through, and a batch queued behind ours is not given up for that wait.
	 */
	private renewOthers(b: BatchRow): void {
		const leaseUntil = Date.now() + this.leaseMs;
		for (const r of this.sql.exec<BatchRow>(`SELECT * FROM bulk_batches WHERE id != ? AND lease_until < ?`, b.id, leaseUntil).toArray()) {
			this.parts.versions.renew(r.grant_id, leaseUntil);
			this.sql.exec(`UPDATE bulk_batches SET lease_until = ? WHERE id = ?`, leaseUntil, r.id);
		}
	}

	private reschedule(b: BatchRow, at: number): number {
		this.sql.exec(`UPDATE bulk_batches SET next_poll_at = ? WHERE id = ?`, at, b.id);
		return at;
	}

	/** A batch that ended: its failed items (read only when it reports failures) fail; the others are decided by its state. */
	private async finish(b: BatchRow, batch: Batch, token: string): Promise<number | null> {
		if (batch.state !== "finished") return this.readAllItems(b, token, `the batch ended '${batch.state}'`);
		const failed = new Map<number, string>();
		if (batch.failures > 0) {
			const read = await this.readItems(b, token, true);
			if (read === null) return Date.now() + 2_000;
			for (const item of read) if (item.failed) failed.set(item.prospectId, item.info ?? "failed");
		}
		const items = this.parts.items.running("modify", b.id);
		for (const i of items) {
			const info = failed.get(i.prospect_id);
			this.parts.versions.settle(i.destination_id, i.prospect_id, fieldOf(i), b.grant_id, { delivered: info === undefined, known: true });
			if (info === undefined) this.parts.items.decide([i], "delivered");
			else this.parts.items.decide([i], "failed", fieldFailureReason(i.field, info));
		}
		this.sql.exec(`DELETE FROM bulk_batches WHERE id = ?`, b.id);
		log("info", "bulk_batch_finished", { batchId: b.id, items: items.length, failed: failed.size, sentMsAgo: Date.now() - b.started_at });
		return null;
	}

	/** Cancels a batch whose lease ended, reads what it applied, and releases its fields; the rest goes by PATCH. */
	private async abandon(b: BatchRow, why: string): Promise<number | null> {
		const access = await this.parts.tokens.accessToken(b.owner);
		if (access.ok) {
			const call = this.oneCall();
			if ("at" in call) return this.reschedule(b, call.at);
			count("pollCalls");
			const { res } = await cancelBatch(this.cfg.OUTREACH_API_BASE, access.token, b.id, this.timeoutMs);
			this.spent(call.grantId, res);
			log("warn", "bulk_batch_cancelled", { batchId: b.id, why });
			return this.readAllItems(b, access.token, why);
		}
		// Without a connection nothing more can be learned: the fields are released, and the writes go by PATCH.
		this.settleRest(b, new Map(), why);
		return null;
	}

	private async readAllItems(b: BatchRow, token: string, why: string): Promise<number | null> {
		const read = await this.readItems(b, token, false);
		const states = new Map<number, BatchItem>();
		for (const item of read ?? []) states.set(item.prospectId, item);
		this.settleRest(b, states, why);
		return null;
	}

	/** Decides a stopped batch's items by what Outreach said of each: applied, failed, or (anything else) by PATCH. */
	private settleRest(b: BatchRow, states: Map<number, BatchItem>, why: string): void {
		const items = this.parts.items.running("modify", b.id);
		for (const i of items) {
			const s = states.get(i.prospect_id);
			const applied = s !== undefined && !s.failed && s.state === "finished";
			this.parts.versions.settle(i.destination_id, i.prospect_id, fieldOf(i), b.grant_id, { delivered: applied, known: true });
			if (applied) this.parts.items.decide([i], "delivered");
			else if (s?.failed) this.parts.items.decide([i], "failed", fieldFailureReason(i.field, s.info ?? "failed"));
			else this.parts.items.decide([i], "patch", `the bulk batch was stopped: ${why}`);
		}
		this.sql.exec(`DELETE FROM bulk_batches WHERE id = ?`, b.id);
	}

	/** Every page of a batch's items (each one call); null when a page could not be read now. */
	private async readItems(b: BatchRow, token: string, failedOnly: boolean): Promise<BatchItem[] | null> {
		const out: BatchItem[] = [];
		let after: string | undefined;
		for (let page = 0; page < 10_000; page++) {
			const call = this.oneCall();
			if ("at" in call) return null;
			count("pollCalls");
			const read = await batchItems(this.cfg.OUTREACH_API_BASE, token, b.id, { failedOnly, ...(after ? { after } : {}) }, this.timeoutMs);
			this.spent(call.grantId, read.res);
			if (!read.items) return null;
			out.push(...read.items);
			if (!read.next) return out;
			after = read.next;
		}
		return out;
	}
}
