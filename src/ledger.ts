import { DurableObject } from "cloudflare:workers";
import { config } from "./config";
import { capMessage } from "./echo";
import type { SegmentRef, SourceData } from "./updates";

/**
 * The ledger: one Durable Object per destination (named by its id). A row per accepted update (state,
 * prospect, source data), counters per segment and per hour, failures, recent errors and alert state.
 * Written once per ingest request and once per consumer batch, never per profile.
 *
 * Counting: every profile received ends as exactly one of rejected, skipped or accepted; every accepted
 * update is exactly one of pending, delivered, failed or superseded. Counts move only when a row's state
 * changes, so a duplicate queue delivery never counts twice, and
 * received = rejected + skipped + pending + delivered + failed + superseded always holds.
 */

export const COUNTS = ["received", "rejected", "skipped", "pending", "delivered", "failed", "superseded"] as const;
export type CountName = (typeof COUNTS)[number];
export type Counts = Record<CountName, number>;
export type UpdateState = "pending" | "delivered" | "failed" | "superseded";

export type Receipt = {
	requestId: string;
	at: number;
	accepted: { id: string; prospectId: number; segments: SegmentRef[]; source: SourceData }[];
	rejected: { index: number; error: string; segments: SegmentRef[] }[];
	skipped: number;
};

/** One update's outcome from a consumer batch. `pending` only records an attempt (it is being retried). */
export type OutcomeReport = { id: string; state: UpdateState; reason?: string; fields?: string[]; attempts?: number };

export type Failure = {
	id: string;
	prospectId: number;
	fields: string[];
	reason: string;
	status: "failed" | "pending";
	firstFailedAt: string;
	attempts: number;
};

export type LedgerActivity = {
	totals: Counts;
	segments: ({ segmentId: string; mappingId: number } & Counts)[];
	hours: ({ hour: string } & Counts)[];
	oldestPendingAt: string | null;
	recentErrors: { at: string; kind: string; updateId: string | null; prospectId: number | null; message: string }[];
};

export type AlertConditionState = { active: boolean; since?: number; lastSentAt?: number; detail?: string };

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const RECENT_ERRORS = 50;
/** Failures replayed per ledger call: "replay all" goes page by page. */
export const REPLAY_PAGE = 500;
const STUCK_REPLAY_MS = 15 * 60_000;
const TERMINAL: ReadonlySet<string> = new Set(["delivered", "superseded"]);

function zeroCounts(): Counts {
	return { received: 0, rejected: 0, skipped: 0, pending: 0, delivered: 0, failed: 0, superseded: 0 };
}

type Row = {
	id: string;
	prospect_id: number;
	state: UpdateState;
	hour: number;
	segments: string;
	source: string;
	failed_fields: string | null;
	reason: string | null;
	attempts: number;
	first_failed_at: number | null;
};

/**
 * Count changes gathered during one call and written once per counter when the call ends (before it awaits
 * anything, so they commit with the row changes): a batch of 1,000 outcomes then touches a few dozen counter
 * rows instead of several thousand, which keeps the ledger quick to answer the ingest requests waiting on it.
 */
class Tally {
	private readonly deltas = new Map<string, { scope: string; key: string; name: CountName; n: number }>();
	private readonly segments = new Map<string, number>();

	/** Adds `delta` to one count in the total, the hour and each segment it concerns. */
	add(name: CountName, delta: number, hour: number, segments: SegmentRef[]): void {
		const bump = (scope: string, key: string) => {
			const id = `${scope}\u0000${key}\u0000${name}`;
			const cur = this.deltas.get(id);
			if (cur) cur.n += delta;
			else this.deltas.set(id, { scope, key, name, n: delta });
		};
		bump("total", "");
		bump("hour", String(hour));
		for (const s of segments) {
			bump("segment", s.segmentId);
			this.segments.set(s.segmentId, s.mappingId);
		}
	}

	write(sql: SqlStorage): void {
		for (const d of this.deltas.values()) {
			if (d.n === 0) continue;
			sql.exec(
				`INSERT INTO counts (scope, key, name, n) VALUES (?, ?, ?, ?)
				 ON CONFLICT (scope, key, name) DO UPDATE SET n = n + excluded.n`,
				d.scope,
				d.key,
				d.name,
				d.n,
			);
		}
		for (const [segmentId, mappingId] of this.segments)
			sql.exec(
				`INSERT INTO segments (segment_id, mapping_id) VALUES (?, ?) ON CONFLICT (segment_id) DO UPDATE SET mapping_id = excluded.mapping_id`,
				segmentId,
				mappingId,
			);
	}
}

export class Ledger extends DurableObject<Env> {
	private readonly sql: SqlStorage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		this.init();
	}

	private init(): void {
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS updates (
				id TEXT PRIMARY KEY, request_id TEXT NOT NULL, prospect_id INTEGER NOT NULL, state TEXT NOT NULL,
				hour INTEGER NOT NULL, received_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
				segments TEXT NOT NULL, source TEXT NOT NULL, failed_fields TEXT, reason TEXT,
				attempts INTEGER NOT NULL DEFAULT 0, first_failed_at INTEGER);
			CREATE INDEX IF NOT EXISTS updates_state ON updates (state, received_at);
			CREATE INDEX IF NOT EXISTS updates_request ON updates (request_id);
			CREATE TABLE IF NOT EXISTS counts (scope TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
				n INTEGER NOT NULL, PRIMARY KEY (scope, key, name));
			CREATE TABLE IF NOT EXISTS segments (segment_id TEXT PRIMARY KEY, mapping_id INTEGER NOT NULL);
			CREATE TABLE IF NOT EXISTS errors (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL,
				update_id TEXT, prospect_id INTEGER, message TEXT NOT NULL);
			CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
		`);
	}

	private noteError(at: number, kind: string, message: string, updateId: string | null = null, prospectId: number | null = null): void {
		this.sql.exec(`INSERT INTO errors (at, kind, update_id, prospect_id, message) VALUES (?, ?, ?, ?, ?)`, at, kind, updateId, prospectId, capMessage(message));
		this.sql.exec(`DELETE FROM errors WHERE seq <= (SELECT MAX(seq) FROM errors) - ?`, RECENT_ERRORS);
	}

	/** Records one ingest request: its accepted updates (pending), rejects and skips. Idempotent per update id. */
	async receive(receipt: Receipt): Promise<void> {
		const hour = Math.floor(receipt.at / HOUR) * HOUR;
		const tally = new Tally();
		for (const u of receipt.accepted) {
			const inserted = this.sql.exec(
				`INSERT OR IGNORE INTO updates (id, request_id, prospect_id, state, hour, received_at, updated_at, segments, source)
				 VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)`,
				u.id,
				receipt.requestId,
				u.prospectId,
				hour,
				receipt.at,
				receipt.at,
				JSON.stringify(u.segments),
				JSON.stringify(u.source),
			).rowsWritten;
			if (inserted === 0) continue;
			tally.add("received", 1, hour, u.segments);
			tally.add("pending", 1, hour, u.segments);
		}
		for (const r of receipt.rejected) {
			tally.add("received", 1, hour, r.segments);
			tally.add("rejected", 1, hour, r.segments);
		}
		if (receipt.rejected.length > 0) {
			const sample = receipt.rejected.slice(0, 3).map((r) => `#${r.index}: ${r.error}`).join("; ");
			this.noteError(receipt.at, "rejected", `${receipt.rejected.length} profile(s) rejected — ${sample}`);
		}
		if (receipt.skipped > 0) {
			tally.add("received", receipt.skipped, hour, []);
			tally.add("skipped", receipt.skipped, hour, []);
		}
		tally.write(this.sql);
		await this.scheduleMaintenance();
	}

	/** Takes back a receipt whose updates never reached the queue (the request then answers 5xx and AEP retries). */
	abandon(requestId: string, at: number, rejected: Receipt["rejected"], skipped: number): void {
		const hour = Math.floor(at / HOUR) * HOUR;
		const tally = new Tally();
		const rows = this.sql.exec<Row>(`SELECT * FROM updates WHERE request_id = ? AND state = 'pending'`, requestId).toArray();
		for (const row of rows) {
			const segments = JSON.parse(row.segments) as SegmentRef[];
			tally.add("received", -1, row.hour, segments);
			tally.add("pending", -1, row.hour, segments);
		}
		this.sql.exec(`DELETE FROM updates WHERE request_id = ? AND state = 'pending'`, requestId);
		for (const r of rejected) {
			tally.add("received", -1, hour, r.segments);
			tally.add("rejected", -1, hour, r.segments);
		}
		if (skipped > 0) {
			tally.add("received", -skipped, hour, []);
			tally.add("skipped", -skipped, hour, []);
		}
		tally.write(this.sql);
	}

	/** Applies one consumer batch's outcomes. Terminal states never change; duplicates are no-ops. */
	record(outcomes: OutcomeReport[], now = Date.now()): void {
		const tally = new Tally();
		for (const o of outcomes) {
			const row = this.sql.exec<Row>(`SELECT * FROM updates WHERE id = ?`, o.id).toArray()[0];
			if (!row || TERMINAL.has(row.state)) continue;
			const attempts = Math.max(row.attempts, o.attempts ?? row.attempts);
			if (o.state === row.state || o.state === "pending") {
				this.sql.exec(`UPDATE updates SET attempts = ?, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?`, attempts, o.reason === undefined ? null : capMessage(o.reason), now, o.id);
				continue;
			}
			const segments = JSON.parse(row.segments) as SegmentRef[];
			tally.add(row.state, -1, row.hour, segments);
			tally.add(o.state, 1, row.hour, segments);
			if (o.state === "failed") {
				this.sql.exec(
					`UPDATE updates SET state = 'failed', reason = ?, failed_fields = ?, attempts = ?, updated_at = ?,
					 first_failed_at = COALESCE(first_failed_at, ?) WHERE id = ?`,
					capMessage(o.reason ?? "failed"),
					JSON.stringify(o.fields ?? []),
					attempts,
					now,
					now,
					o.id,
				);
				this.noteError(now, "failed", o.reason ?? "failed", o.id, row.prospect_id);
			} else {
				this.sql.exec(`UPDATE updates SET state = ?, attempts = ?, updated_at = ? WHERE id = ?`, o.state, attempts, now, o.id);
			}
		}
		tally.write(this.sql);
	}

	/** Failures still listed: failed, or pending again after a replay. */
	failures(limit = 500): Failure[] {
		return this.sql
			.exec<Row>(
				`SELECT * FROM updates WHERE first_failed_at IS NOT NULL AND state IN ('failed', 'pending')
				 ORDER BY first_failed_at DESC LIMIT ?`,
				limit,
			)
			.toArray()
			.map((r) => ({
				id: r.id,
				prospectId: r.prospect_id,
				fields: r.failed_fields ? (JSON.parse(r.failed_fields) as string[]) : [],
				reason: r.reason ?? "",
				status: r.state === "failed" ? "failed" : "pending",
				firstFailedAt: new Date(r.first_failed_at!).toISOString(),
				attempts: r.attempts,
			}));
	}

	/**
	 * Marks failed updates pending again for a replay and returns their stored source data as JSON text (all
	 * failed ones when `ids` is empty). The caller re-maps them with the current mapping and queues them.
	 */
	beginReplay(ids: string[], limit = REPLAY_PAGE, now = Date.now()): { id: string; source: string }[] {
		// A replay whose queue write never happened (its request died) becomes replayable again after a while.
		const replayable = `(state = 'failed' OR (state = 'pending' AND first_failed_at IS NOT NULL AND updated_at < ${now - STUCK_REPLAY_MS}))`;
		const rows =
			ids.length === 0
				? this.sql.exec<Row>(`SELECT * FROM updates WHERE ${replayable} ORDER BY first_failed_at LIMIT ?`, limit).toArray()
				: ids.slice(0, limit).flatMap((id) => this.sql.exec<Row>(`SELECT * FROM updates WHERE id = ? AND ${replayable}`, id).toArray());
		const tally = new Tally();
		for (const row of rows) {
			if (row.state === "failed") {
				const segments = JSON.parse(row.segments) as SegmentRef[];
				tally.add("failed", -1, row.hour, segments);
				tally.add("pending", 1, row.hour, segments);
			}
			this.sql.exec(`UPDATE updates SET state = 'pending', updated_at = ? WHERE id = ?`, now, row.id);
		}
		tally.write(this.sql);
		return rows.map((r) => ({ id: r.id, source: r.source }));
	}

	/** Counts, hourly buckets for the last 48 hours, oldest pending update and recent errors. */
	activity(now = Date.now()): LedgerActivity {
		const rows = this.sql.exec<{ scope: string; key: string; name: CountName; n: number }>(`SELECT * FROM counts`).toArray();
		const totals = zeroCounts();
		const segs = new Map<string, Counts>();
		const hours = new Map<number, Counts>();
		const firstHour = Math.floor(now / HOUR) * HOUR - 47 * HOUR;
		for (let h = firstHour; h <= now; h += HOUR) hours.set(h, zeroCounts());
		for (const r of rows) {
			if (r.scope === "total") totals[r.name] = r.n;
			else if (r.scope === "segment") (segs.get(r.key) ?? segs.set(r.key, zeroCounts()).get(r.key)!)[r.name] = r.n;
			else if (r.scope === "hour" && hours.has(Number(r.key))) hours.get(Number(r.key))![r.name] = r.n;
		}
		const mappingIds = new Map(
			this.sql.exec<{ segment_id: string; mapping_id: number }>(`SELECT * FROM segments`).toArray().map((r) => [r.segment_id, r.mapping_id]),
		);
		const oldest = this.sql.exec<{ at: number | null }>(`SELECT MIN(received_at) AS at FROM updates WHERE state = 'pending'`).one().at;
		return {
			totals,
			segments: [...segs].map(([segmentId, c]) => ({ segmentId, mappingId: mappingIds.get(segmentId) ?? 0, ...c })),
			hours: [...hours].map(([h, c]) => ({ hour: new Date(h).toISOString(), ...c })),
			oldestPendingAt: oldest === null ? null : new Date(oldest).toISOString(),
			recentErrors: this.sql
				.exec<{ at: number; kind: string; update_id: string | null; prospect_id: number | null; message: string }>(
					`SELECT * FROM errors ORDER BY seq DESC LIMIT 20`,
				)
				.toArray()
				.map((e) => ({ at: new Date(e.at).toISOString(), kind: e.kind, updateId: e.update_id, prospectId: e.prospect_id, message: e.message })),
		};
	}

	/** True once this instance knows the daily alarm is set, so an ingest request need not ask storage again. */
	private maintenanceScheduled = false;

	private async scheduleMaintenance(): Promise<void> {
		if (this.maintenanceScheduled) return;
		if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + DAY);
		this.maintenanceScheduled = true;
	}

	/** Daily: prunes finished rows older than RETENTION_DAYS (the counters stay). */
	override async alarm(): Promise<void> {
		this.prune(Date.now());
		const left = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM updates`).one().n;
		if (left > 0) await this.ctx.storage.setAlarm(Date.now() + DAY);
		this.maintenanceScheduled = left > 0;
	}

	/** Deletes delivered, superseded and failed rows last touched before the retention period. */
	prune(now: number): number {
		const cutoff = now - config(this.env).RETENTION_DAYS * DAY;
		return this.sql.exec(`DELETE FROM updates WHERE state IN ('delivered', 'superseded', 'failed') AND updated_at < ?`, cutoff).rowsWritten;
	}

	/**
	 * True the first time `key` is claimed (until `ttlMs` passes), false ever after: strongly consistent
	 * single use, e.g. for OAuth `state`, where KV's eventual consistency would allow a replay.
	 */
	claimOnce(key: string, ttlMs: number): boolean {
		const now = Date.now();
		this.sql.exec(`DELETE FROM claims WHERE expires_at < ?`, now);
		const taken = this.sql.exec(`SELECT 1 FROM claims WHERE key = ?`, key).toArray().length > 0;
		if (taken) return false;
		// Kept past the TTL so a replay after expiry is refused here too, not only by the caller's own expiry check.
		this.sql.exec(`INSERT INTO claims (key, expires_at) VALUES (?, ?)`, key, now + ttlMs * 2);
		return true;
	}

	/** Alert state per condition (evaluated by the cron in src/alerts/evaluate.ts). */
	getAlertState(): Record<string, AlertConditionState> {
		return (this.ctx.storage.kv.get("alert-state") as Record<string, AlertConditionState> | undefined) ?? {};
	}

	putAlertState(state: Record<string, AlertConditionState>): void {
		this.ctx.storage.kv.put("alert-state", state);
	}

	/** Erases everything this destination's ledger holds (DELETE /api/destinations/:id). */
	async erase(): Promise<void> {
		await this.ctx.storage.deleteAlarm();
		this.maintenanceScheduled = false;
		await this.ctx.storage.deleteAll();
		this.init();
	}
}

export function ledgerStub(env: Env, destinationId: string): DurableObjectStub<Ledger> {
	return env.LEDGER.getByName(destinationId) as DurableObjectStub<Ledger>;
}
