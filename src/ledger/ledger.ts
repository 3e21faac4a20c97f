import { DurableObject } from "cloudflare:workers";
import { config } from "../platform/config";
import { copyOverdueSeconds } from "../delivery/message";
import { crashPoint } from "../platform/crashpoints";
import { capMessage } from "../platform/echo";
import type { DestinationRecord } from "../destinations/records";
import { gateStub } from "../gate/gate";
import { log } from "../platform/log";
import type { Mapping, StoredMapping } from "../destinations/mapping";
import { aepMapping, fieldsFrom, SourceData, type FieldValue, type SegmentRef, type Update } from "../updates/update";
import { hourOf, HOUR, Tally, waitingOf, zeroCounts, type CountName, type Counts } from "./counts";
import { Outbox, sendAtFor } from "./outbox";
import { releasePlan, type ReleaseView } from "./release";
import { DestinationAuthority } from "./record";
import { Requests, type IngestAnswer } from "./requests";
import type { BatchReport, HoldReason, OutcomeReport, UpdateState } from "./report";

export type { BatchReport, HoldReason, OutcomeReport, UpdateState };

/**
 * The ledger: one Durable Object per destination (named by its id).
 * - The authority of the destination's record and mapping (./record), mirrored to KV.
 * - A row per accepted update: its state, prospect, source data (for replay) and the update as it travels.
 * - The outbox of the queue (./outbox): the receipt of an ingest request is the commit point, and every
 *   hand-over to the queue — at ingest, re-sends, replays, releases — starts here.
 * - Held updates (paused, waiting for a reconnect, or deferred beyond the queue's 12 hours) wait here at no
 *   recurring cost, and are released on resume or reconnect at the pace of the path and the free budget (./release).
 * - Counters per segment and per hour (./counts), failures, recent errors, alert state, AEP's retries (./requests).
 * Written once per ingest request and once per consumer batch, never per profile.
 */


export type Receipt = {
	destinationId: string;
	requestId: string;
	/** When the ingest request arrived (the Worker's clock). */
	at: number;
	/** SHA-256 of the request body, to recognise AEP's retries. */
	bodyHash: string;
	accepted: { update: Update; segments: SegmentRef[]; source: SourceData }[];
	rejected: { index: number; error: string; segments: SegmentRef[] }[];
	skipped: number;
	/** The audiences a Destination SDK package body named, with the Mapping ID typed in AEP (src/ingest/sdk.ts). */
	aepAudiences?: AepAudience[];
};

/** An audience mapped in AEP (its scheduling step's Mapping ID), as the package's bodies name it. */
export type AepAudience = { segmentId: string; namespace: string; mappingId: number };

/** An audience mapped in AEP as the ledger has seen it, with its activity counts. */
export type AepAudienceView = AepAudience & { firstSeen: string; lastSeen: string } & Omit<Counts, "held">;


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
	segments: ({ segmentId: string; mappingId: number } & Omit<Counts, "held">)[];
	/** Audiences mapped in AEP (Destination SDK package), newest first. */
	aepAudiences: AepAudienceView[];
	hours: ({ hour: string } & Omit<Counts, "held">)[];
	/** The oldest update still pending and not held (a paused destination does not look stuck). */
	oldestPendingAt: string | null;
	/** Updates pending and not held: this destination's share of its Outreach user's backlog. */
	waiting: number;
	recentErrors: { at: string; kind: string; updateId: string | null; prospectId: number | null; message: string }[];
};

/** What an erasure removed from the ledger and the gate, by kind (counts only: never a value). */
export type ErasureReport = {
	prospectIds: number[];
	updates: { pending: number; held: number; delivered: number; failed: number; superseded: number };
	failures: number;
	events: number;
	versions: number;
	bulkWrites: number;
};

export type TraceState = "pending" | "held" | "delivered" | "failed" | "superseded";
export type ProspectTrace = {
	prospectId: number;
	fields: { field: string; value: FieldValue | null; state: TraceState; at: string; updateId: string; receivedAt: string }[];
	events: { at: string; kind: "received" | "written" | "failed" | "replayed" | "superseded" | "error"; updateId: string | null; detail: string }[];
	versions: { field: string; observedAt: string; updateId: string; confirmed: boolean }[];
};

export type AlertConditionState = { active: boolean; since?: number; lastSentAt?: number; detail?: string };

const DAY = 24 * HOUR;
const RECENT_ERRORS = 50;
/**
 * Aged rows deleted per alarm: a back-fill of a million rows ages out over many short alarms, a second apart,
 * instead of one transaction that holds the ledger (and its ingest) for as long as a million deletes take.
 */
export const PRUNE_PAGE = 5_000;
const PRUNE_PAUSE_MS = 1_000;
/** Failures replayed per ledger call: "replay all" goes page by page. */
export const REPLAY_PAGE = 500;
const TERMINAL: ReadonlySet<string> = new Set(["delivered", "superseded"]);
/** How often held-for-reconnect work asks the gate whether the connection works again (besides the reconnect itself). */
const RECONNECT_RECHECK_MS = 5 * 60_000;
/** When a consumer held an update on a stale view of the destination, it comes back after this long. */
const STALE_VIEW_RETRY_SECONDS = 5;

type Row = {
	id: string;
	request_id: string;
	prospect_id: number;
	state: UpdateState;
	hour: number;
	received_at: number;
	segments: string;
	source: string;
	failed_fields: string | null;
	reason: string | null;
	attempts: number;
	first_failed_at: number | null;
	payload: string | null;
	gen: number;
	send_at: number | null;
	due_at: number | null;
	out_at: number | null;
	hold: HoldReason | null;
};

export class Ledger extends DurableObject<Env> {
	private readonly sql: SqlStorage;
	private readonly requests: Requests;
	private readonly authority: DestinationAuthority;
	private outboxCache?: Outbox;
	/** The alarm time this instance last set (null: unknown or none), so a busy ingest path rarely asks storage. */
	private alarmAt: number | null = null;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		this.init();
		this.requests = new Requests(ctx.storage);
		this.authority = new DestinationAuthority(ctx.storage, env, () => void this.wakeAt(Date.now() + this.outboxLeaseMs));
	}

	private init(): void {
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS updates (
				id TEXT PRIMARY KEY, request_id TEXT NOT NULL, prospect_id INTEGER NOT NULL, state TEXT NOT NULL,
				hour INTEGER NOT NULL, received_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
				segments TEXT NOT NULL, source TEXT NOT NULL, failed_fields TEXT, reason TEXT,
				attempts INTEGER NOT NULL DEFAULT 0, first_failed_at INTEGER);
			CREATE INDEX IF NOT EXISTS updates_state ON updates (state, received_at);
			CREATE TABLE IF NOT EXISTS counts (scope TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
				n INTEGER NOT NULL, PRIMARY KEY (scope, key, name));
			CREATE TABLE IF NOT EXISTS segments (segment_id TEXT PRIMARY KEY, mapping_id INTEGER NOT NULL);
			CREATE TABLE IF NOT EXISTS aep_audiences (segment_id TEXT PRIMARY KEY, namespace TEXT NOT NULL, mapping_id INTEGER NOT NULL,
				first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);
			CREATE TABLE IF NOT EXISTS errors (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL,
				update_id TEXT, prospect_id INTEGER, message TEXT NOT NULL);
			CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
		`);
		// Ledgers written before the outbox existed gain its columns (an upgrade keeps every row).
		const columns = new Set(this.sql.exec<{ name: string }>(`PRAGMA table_info(updates)`).toArray().map((c) => c.name));
		const added: [string, string][] = [
			["payload", "TEXT"],
			["gen", "INTEGER NOT NULL DEFAULT 0"],
			["send_at", "INTEGER"],
			["due_at", "INTEGER"],
			["hold", "TEXT"],
			["out_at", "INTEGER"],
		];
		for (const [name, type] of added) if (!columns.has(name)) this.sql.exec(`ALTER TABLE updates ADD COLUMN ${name} ${type}`);
		// Copies already in the queue when the ledger learnt to watch them: watched from now, as if just handed over.
		if (!columns.has("out_at") && columns.has("send_at")) {
			const now = Date.now();
			this.sql.exec(
				`UPDATE updates SET out_at = ?, send_at = ? WHERE state = 'pending' AND hold IS NULL AND send_at IS NULL AND payload IS NOT NULL`,
				now,
				now + this.copyOverdueMs,
			);
		}
		this.sql.exec(`
			CREATE INDEX IF NOT EXISTS updates_hold ON updates (hold, received_at) WHERE hold IS NOT NULL;
		`);
		// The backlog and the outbox are read on every activity poll and every hand-over; their queries name
		// these partial indexes (INDEXED BY), which answer them without reading a row. Left to itself SQLite picks
		// updates_state (state = 'pending') and reads every waiting row to test `hold` and `send_at`: ~0.1 s a
		// query with a few thousand waiting, the ledger blocked meanwhile (and locally, the whole Worker).
		this.sql.exec(`
			CREATE INDEX IF NOT EXISTS updates_waiting ON updates (received_at) WHERE state = 'pending' AND hold IS NULL;
			CREATE INDEX IF NOT EXISTS updates_outbox ON updates (send_at) WHERE send_at IS NOT NULL AND hold IS NULL AND state = 'pending';
		`);
		// Scale (issue 21): no request reads rows in proportion to the ledger. A prospect's trace and erasure find
		// its rows by prospect_id (a full scan each, 3 per erased prospect, at a million rows); the failures list
		// and "replay all" read the updates that ever failed, newest or oldest first, not every pending row. The
		// request_id index served no query: at a million rows it was ~50 MB written for nothing. Nor did the
		// send_at one, which the outbox's partial index (updates_outbox) replaced, and which every copy out would enter.
		this.sql.exec(`
			DROP INDEX IF EXISTS updates_request;
			DROP INDEX IF EXISTS updates_send;
			CREATE INDEX IF NOT EXISTS updates_prospect ON updates (prospect_id);
			CREATE INDEX IF NOT EXISTS updates_failures ON updates (first_failed_at, state) WHERE first_failed_at IS NOT NULL;
		`);
	}

	private get outboxLeaseMs(): number {
		// Long enough for a send to finish, short enough that a lost one is retried soon (tests use a 1 s base).
		return Math.max(2_000, Math.min(30_000, config(this.env).RETRY_BASE_SECONDS * 1000));
	}

	/** How long a copy in the queue may go unheard of before it is taken as lost (src/delivery/message.ts). */
	private get copyOverdueMs(): number {
		return copyOverdueSeconds(config(this.env).RETRY_BASE_SECONDS) * 1000;
	}

	private get outbox(): Outbox {
		return (this.outboxCache ??= new Outbox(this.sql, this.env, this.outboxLeaseMs, this.copyOverdueMs));
	}

	private destinationId(given?: string): string {
		if (given) {
			if (this.ctx.storage.kv.get("destination.id") !== given) this.ctx.storage.kv.put("destination.id", given);
			return given;
		}
		return (this.ctx.storage.kv.get("destination.id") as string | undefined) ?? this.authority.current()?.id ?? "";
	}

	private noteError(at: number, kind: string, message: string, updateId: string | null = null, prospectId: number | null = null): void {
		this.sql.exec(`INSERT INTO errors (at, kind, update_id, prospect_id, message) VALUES (?, ?, ?, ?, ?)`, at, kind, updateId, prospectId, capMessage(message));
		this.sql.exec(`DELETE FROM errors WHERE seq <= (SELECT MAX(seq) FROM errors) - ?`, RECENT_ERRORS);
	}

	private row(id: string): Row | undefined {
		return this.sql.exec<Row>(`SELECT * FROM updates WHERE id = ?`, id).toArray()[0];
	}

	// ─── the destination's record and mapping (./record) ───

	createDestination(record: DestinationRecord): Promise<DestinationRecord> {
		this.destinationId(record.id);
		return this.authority.create(record);
	}

	destination(destinationId: string): Promise<DestinationRecord | null> {
		this.destinationId(destinationId);
		return this.authority.get(destinationId);
	}

	/** Changes name, description, enabled or bulkApi. Resuming releases the updates held while paused. */
	async updateDestination(destinationId: string, changes: Partial<Pick<DestinationRecord, "name" | "description" | "enabled" | "bulkApi">>): Promise<DestinationRecord | null> {
		this.destinationId(destinationId);
		const before = await this.authority.get(destinationId);
		const next = await this.authority.update(destinationId, (r) => ({ ...r, ...changes }));
		// The gate holds bulk work already taken: a pause gives back what is not sent yet (to be held here), and
		// stops it taking more until the resume.
		if (before && next && before.enabled !== next.enabled && next.gate) {
			const gate = gateStub(this.env, next.gate);
			await (next.enabled ? gate.resumeBulk(destinationId) : gate.pauseBulk(destinationId)).catch((err: unknown) =>
				log("error", "gate_pause_failed", { destinationId, enabled: next.enabled, error: err instanceof Error ? err.name : "Error" }),
			);
		}
		if (before && next && !before.enabled && next.enabled) await this.release("paused");
		return next;
	}

	rotateIngestToken(destinationId: string, hash: string): Promise<DestinationRecord | null> {
		return this.authority.update(destinationId, (r) => ({ ...r, ingestTokenHash: hash }));
	}

	putMapping(destinationId: string, mapping: Mapping): Promise<{ stored: StoredMapping; changed: string[] }> {
		this.destinationId(destinationId);
		return this.authority.putMapping(destinationId, mapping);
	}

	mapping(destinationId: string): Promise<StoredMapping | null> {
		return this.authority.mapping(destinationId);
	}

	/**
	 * The destination is connected through `gate` with grant `generation` (or disconnected: null): recorded
	 * here, and the updates held for a reconnect are released.
	 */
	async setConnection(destinationId: string, connection: { gate: string; generation: number } | null): Promise<DestinationRecord | null> {
		this.destinationId(destinationId);
		// Held-for-reconnect copies that saw an older grant (or none, after a disconnect: 0) are released or kept by it.
		this.ctx.storage.kv.put("grant.generation", connection?.generation ?? 0);
		const next = await this.authority.update(destinationId, (r) => ({ ...r, gate: connection?.gate ?? null, pendingConnection: null }));
		if (connection) await this.release("reconnect");
		return next;
	}

	/** A grant from an API-started flow waits for an admin's confirmation (null: none waits any more). */
	setPendingConnection(destinationId: string, pending: DestinationRecord["pendingConnection"]): Promise<DestinationRecord | null> {
		return this.authority.update(destinationId, (r) => ({ ...r, pendingConnection: pending }));
	}

	// ─── ingest: the receipt is the commit point ───

	/**
	 * Records one ingest request — its accepted updates (pending), rejects and skips — and hands the updates to
	 * the queue. A request AEP retried after giving up on its first copy creates nothing and answers the first
	 * copy's counts. Idempotent per update id.
	 */
	async receive(receipt: Receipt): Promise<{ answer: IngestAnswer; retryOf?: string }> {
		const destinationId = this.destinationId(receipt.destinationId);
		const retry = this.requests.retryOf(receipt.bodyHash, receipt.at);
		if (retry) return { answer: retry.answer, retryOf: retry.requestId };
		const now = Date.now();
		// Set before anything is written: if this call dies after committing, the alarm hands the updates over.
		await this.wakeAt(now + this.outboxLeaseMs);
		const hour = hourOf(receipt.at);
		const tally = new Tally();
		for (const a of receipt.accepted) {
			const payload: Update = { ...a.update, gen: 1, attempt: 0 };
			const inserted = this.sql.exec(
				`INSERT OR IGNORE INTO updates (id, request_id, prospect_id, state, hour, received_at, updated_at, segments, source, payload, gen, send_at)
				 VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, 1, ?)`,
				a.update.id,
				receipt.requestId,
				a.update.prospectId,
				hour,
				receipt.at,
				receipt.at,
				JSON.stringify(a.segments),
				JSON.stringify(a.source),
				JSON.stringify(payload),
				now,
			).rowsWritten;
			if (inserted === 0) continue;
			tally.add("received", 1, hour, a.segments);
			tally.add("pending", 1, hour, a.segments);
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
		// One row per audience mapped in AEP: its latest Mapping ID and when it was first and last seen.
		for (const a of receipt.aepAudiences ?? [])
			this.sql.exec(
				`INSERT INTO aep_audiences (segment_id, namespace, mapping_id, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
				 ON CONFLICT (segment_id) DO UPDATE SET namespace = excluded.namespace, mapping_id = excluded.mapping_id,
				 first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen)`,
				a.segmentId,
				a.namespace,
				a.mappingId,
				receipt.at,
				receipt.at,
			);
		const answer: IngestAnswer = {
			accepted: receipt.accepted.length,
			skipped: receipt.skipped,
			rejected: receipt.rejected.map(({ index, error }) => ({ index, error })),
		};
		this.requests.remember(receipt.requestId, receipt.bodyHash, receipt.at, answer);
		crashPoint("ledger.receipt");
		await this.outbox.send(destinationId, now);
		return { answer };
	}

	/** The ingest request was answered at `at`: an identical body from now on is a new delivery, not a retry. */
	answered(requestId: string, at: number): void {
		this.requests.answered(requestId, at);
	}

	// ─── delivery's outcomes ───

	/**
	 * Applies one consumer batch's report for this destination: outcomes (terminal states never change;
	 * duplicates are no-ops), then the re-sends and holds of the copies that are current — a copy left behind
	 * by a crashed batch is ignored, so copies never multiply — and hands the re-sends to the queue.
	 */
	async settle(destinationId: string, report: BatchReport): Promise<void> {
		crashPoint("ledger.record");
		this.destinationId(destinationId);
		const record = report.hold.length ? await this.authority.get(destinationId) : null;
		const now = Date.now();
		await this.wakeAt(now + this.outboxLeaseMs);
		const tally = new Tally();
		this.record(report.outcomes, now, tally);
		const grantGeneration = (this.ctx.storage.kv.get("grant.generation") as number | undefined) ?? 0;
		for (const r of report.resend) this.handOver(r.update, r.delaySeconds, null, now, tally);
		for (const h of report.hold) {
			// The authority decides: a stale "paused" or "lost" read by the consumer holds nothing. The copy comes
			// back a little later, when the consumer's cached view has caught up.
			const stillHeld = h.reason === "paused" ? record?.enabled === false : (h.generation ?? 0) >= grantGeneration;
			this.handOver(h.update, stillHeld ? 0 : STALE_VIEW_RETRY_SECONDS, stillHeld ? h.reason : null, now, tally);
		}
		tally.write(this.sql);
		// "Paused" for a destination that is not: the gate missed the resume (its call failed). Tell it again, or
		// it would keep answering "paused" to every offer.
		if (record?.enabled && record.gate && report.hold.some((h) => h.reason === "paused"))
			await gateStub(this.env, record.gate)
				.resumeBulk(destinationId)
				.catch((err: unknown) => log("error", "gate_resume_failed", { destinationId, error: err instanceof Error ? err.name : "Error" }));
		const failed = report.outcomes.filter((o) => o.state === "failed");
		if (failed.length) log("warn", "failure_recorded", { destinationId, updates: failed.length, updateIds: failed.slice(0, 20).map((o) => o.id) });
		crashPoint("ledger.resend");
		const next = await this.outbox.send(destinationId, Date.now());
		if (next !== null) await this.wakeAt(next);
	}

	/**
	 * Takes a copy of an update back from delivery: to hand it to the queue again after `delaySeconds`, or to
	 * hold it. Only the current copy counts (`gen`); the row's next hand-over gets the next gen.
	 */
	private handOver(update: Update, delaySeconds: number, hold: HoldReason | null, now: number, tally: Tally): void {
		const row = this.row(update.id);
		if (!row || row.state !== "pending") return;
		if ((update.gen ?? 0) !== row.gen) return; // an older copy: the current one is elsewhere
		const gen = row.gen + 1;
		const payload = JSON.stringify({ ...update, gen });
		const dueAt = delaySeconds > 0 ? now + delaySeconds * 1000 : null;
		if (hold && !row.hold) tally.add("held", 1, row.hour, []);
		if (!hold && row.hold) tally.add("held", -1, row.hour, []);
		this.sql.exec(
			`UPDATE updates SET payload = ?, gen = ?, hold = ?, due_at = ?, send_at = ?, out_at = NULL, attempts = MAX(attempts, ?), updated_at = ? WHERE id = ?`,
			payload,
			gen,
			hold,
			dueAt,
			hold ? null : sendAtFor(dueAt, now),
			update.attempt ?? 0,
			now,
			update.id,
		);
	}

	/** Outcomes: terminal states never change; `pending` only records an attempt and its reason. */
	private record(outcomes: OutcomeReport[], now: number, tally: Tally): void {
		for (const o of outcomes) {
			const row = this.row(o.id);
			if (!row || TERMINAL.has(row.state)) continue;
			const attempts = Math.max(row.attempts, o.attempts ?? row.attempts);
			if (o.state === row.state || o.state === "pending") {
				this.sql.exec(`UPDATE updates SET attempts = ?, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?`, attempts, o.reason === undefined ? null : capMessage(o.reason), now, o.id);
				continue;
			}
			const segments = JSON.parse(row.segments) as SegmentRef[];
			tally.move(row.state, o.state, row.hour, segments);
			if (row.hold) tally.add("held", -1, row.hour, []);
			if (o.state === "failed") {
				this.sql.exec(
					`UPDATE updates SET state = 'failed', reason = ?, failed_fields = ?, attempts = ?, updated_at = ?, send_at = NULL, out_at = NULL, hold = NULL,
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
				this.sql.exec(`UPDATE updates SET state = ?, attempts = ?, updated_at = ?, send_at = NULL, out_at = NULL, hold = NULL, payload = NULL WHERE id = ?`, o.state, attempts, now, o.id);
			}
		}
	}

	/**
	 * The dead-letter queue's verdict on copies whose batches kept crashing: the ones that are still the current
	 * copy of a pending, unheld update, and that Outreach did not accept (the caller asked the gate), are failed.
	 */
	failUnknown(destinationId: string, items: { id: string; gen?: number }[], delivered: string[], reason: string): number {
		this.destinationId(destinationId);
		const now = Date.now();
		const tally = new Tally();
		const outcomes: OutcomeReport[] = delivered.map((id) => ({ id, state: "delivered" }));
		for (const item of items) {
			if (delivered.includes(item.id)) continue;
			const row = this.row(item.id);
			if (!row || row.state !== "pending" || row.hold || (item.gen ?? 0) !== row.gen) continue;
			outcomes.push({ id: item.id, state: "failed", reason, fields: Object.keys((JSON.parse(row.payload ?? "{}") as Partial<Update>).fields ?? {}) });
		}
		this.record(outcomes, now, tally);
		tally.write(this.sql);
		return outcomes.filter((o) => o.state === "failed").length;
	}

	// ─── failures and replay ───

	/** Failures still listed: failed, or pending again after a replay. */
	failures(limit = 500): Failure[] {
		return this.sql
			.exec<Row>(
				`SELECT * FROM updates INDEXED BY updates_failures WHERE first_failed_at IS NOT NULL AND state IN ('failed', 'pending')
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
	 * Replays failed updates (all when `ids` is empty, a page at a time): each is re-mapped from its stored
	 * source data with the destination's current mapping — so fixing a mapping and replaying works — and handed
	 * to the queue. Its versions keep the source's times under the current revisions, so a replay never
	 * overwrites newer data. Answers how many were replayed, how many the mapping cannot map, and whether more wait.
	 * "All" takes the failures last touched before `before`, so the ones the mapping cannot map (touched now) are
	 * not taken again by the next page.
	 */
	async replay(destinationId: string, ids: string[], before = Date.now()): Promise<{ replayed: number; unmappable: number; more: boolean }> {
		this.destinationId(destinationId);
		// Updates from the Outreach package carry their own mapping; the others need the console's.
		const mapping = await this.authority.mapping(destinationId);
		const now = Date.now();
		await this.wakeAt(now + this.outboxLeaseMs);
		const rows =
			ids.length === 0
				? this.sql
						.exec<Row>(
							`SELECT * FROM updates INDEXED BY updates_failures WHERE first_failed_at IS NOT NULL AND state = 'failed' AND updated_at < ? ORDER BY first_failed_at LIMIT ?`,
							before,
							REPLAY_PAGE + 1,
						)
						.toArray()
				: ids.slice(0, REPLAY_PAGE).flatMap((id) => this.sql.exec<Row>(`SELECT * FROM updates WHERE id = ? AND state = 'failed'`, id).toArray());
		// Without a console mapping only the package's updates replay: the rest would come back page after page.
		const more = mapping !== null && (ids.length === 0 ? rows.length > REPLAY_PAGE : ids.length > REPLAY_PAGE);
		const tally = new Tally();
		let replayed = 0;
		let unmappable = 0;
		for (const row of rows.slice(0, REPLAY_PAGE)) {
			const source = SourceData.parse(JSON.parse(row.source));
			const current = source.aep ? aepMapping(source.aep, mapping) : mapping;
			if (!current) continue; // no console mapping yet: it stays listed for a later replay
			const { fields, error } = fieldsFrom(source, current);
			if (error || Object.keys(fields).length === 0) {
				const reason = capMessage(`Replay: ${error ?? "the current mapping maps none of this update's data"}`);
				this.sql.exec(`UPDATE updates SET reason = ?, updated_at = ? WHERE id = ?`, reason, now, row.id);
				unmappable++;
				continue;
			}
			const gen = row.gen + 1;
			const update: Update = { id: row.id, prospectId: source.prospectId, fields, gen, attempt: 0 };
			tally.move("failed", "pending", row.hour, JSON.parse(row.segments) as SegmentRef[]);
			this.sql.exec(
				`UPDATE updates SET state = 'pending', payload = ?, gen = ?, due_at = NULL, send_at = ?, out_at = NULL, hold = NULL, updated_at = ? WHERE id = ?`,
				JSON.stringify(update),
				gen,
				now,
				now,
				row.id,
			);
			replayed++;
		}
		tally.write(this.sql);
		await this.outbox.send(destinationId, now);
		return { replayed, unmappable, more };
	}

	// ─── holds ───

	/**
	 * Releases the updates held for `reason`, oldest first, at the pace `releasePlan` (./release) sets from what
	 * the Outreach user's gate says is free, and hands those due now to the queue before answering.
	 */
	private async release(reason: HoldReason): Promise<void> {
		if (this.sql.exec(`SELECT 1 FROM updates WHERE hold = ? AND state = 'pending' LIMIT 1`, reason).toArray().length === 0) return;
		const view = await this.releaseView();
		const now = Date.now();
		// Set before anything is written: if this call dies after releasing, the alarm hands the updates over.
		await this.wakeAt(now + this.outboxLeaseMs);
		const cfg = config(this.env);
		// Counted first, with nothing awaited before the update: rowsWritten also counts index entries.
		const held = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM updates WHERE hold = ? AND state = 'pending'`, reason).one().n;
		const plan = releasePlan(held, now, view, { limit: cfg.OUTREACH_RATE_LIMIT, windowMs: cfg.OUTREACH_RATE_WINDOW_SECONDS * 1000 });
		// CAST: a bound JS number may arrive as a REAL, and a real division spreads the steps into an even trickle.
		this.sql.exec(
			`UPDATE updates SET hold = NULL, due_at = NULL, out_at = NULL,
			 send_at = CASE WHEN r.n <= ? THEN ? ELSE ? + CAST((r.n - 1 - ?) / ? AS INTEGER) * ? END
			 FROM (SELECT id AS rid, ROW_NUMBER() OVER (ORDER BY received_at, id) AS n FROM updates WHERE hold = ? AND state = 'pending') AS r
			 WHERE updates.id = r.rid`,
			plan.atOnce,
			now,
			plan.from,
			plan.atOnce,
			plan.perStep,
			plan.stepMs,
			reason,
		);
		const tally = new Tally();
		tally.add("held", -held, hourOf(now), []);
		tally.write(this.sql);
		const destinationId = this.destinationId();
		log("info", "held_released", { destinationId, reason, updates: held, now: plan.atOnce, pace: plan.pace });
		const next = destinationId ? await this.outbox.send(destinationId, now) : null;
		if (next !== null) await this.wakeAt(next);
	}

	/** What the destination's gate says for a release: its budget, and whether the destination's writes go in bulk. Null when it cannot say. */
	private async releaseView(): Promise<ReleaseView | null> {
		const record = this.authority.current();
		if (!record?.gate) return null;
		const gate = gateStub(this.env, record.gate);
		try {
			const [budget, bulk] = await Promise.all([gate.budgetStatus(), record.bulkApi ? gate.bulkStatus(record.id) : null]);
			// A destination that may use a bulk path has its release offered whole: the gate then picks PATCH or bulk by its size.
			return { budget, bulk: bulk?.usable ?? false };
		} catch (err) {
			log("warn", "release_budget_unknown", { destinationId: record.id, error: err instanceof Error ? err.name : "Error" });
			return null;
		}
	}

	/** Held-for-reconnect work asks the gate now and then whether the connection works again (a missed release). */
	private async recheckReconnect(): Promise<void> {
		const record = this.authority.current();
		if (!record?.gate) return;
		const connection = await gateStub(this.env, record.gate).connection(record.id).catch(() => null);
		if (connection?.status === "connected") {
			this.ctx.storage.kv.put("grant.generation", Math.max((this.ctx.storage.kv.get("grant.generation") as number | undefined) ?? 0, connection.generation ?? 0));
			await this.release("reconnect");
		}
	}

	// ─── activity ───

	/** Counts, hourly buckets for the last 48 hours, oldest pending update and recent errors. */
	activity(now = Date.now()): LedgerActivity {
		const firstHour = hourOf(now) - 47 * HOUR;
		// Hour rows pile up for as long as the ledger lives: only the 48 shown are read. Keys are epoch ms as
		// text, all 13 digits (until 2286), so they compare as text in time order.
		const rows = this.sql
			.exec<{ scope: string; key: string; name: CountName; n: number }>(
				`SELECT * FROM counts WHERE scope IN ('total', 'segment') UNION ALL SELECT * FROM counts WHERE scope = 'hour' AND key >= ?`,
				String(firstHour),
			)
			.toArray();
		const totals = zeroCounts();
		const segs = new Map<string, Counts>();
		const hours = new Map<number, Counts>();
		for (let h = firstHour; h <= now; h += HOUR) hours.set(h, zeroCounts());
		for (const r of rows) {
			if (r.scope === "total") totals[r.name] = r.n;
			else if (r.scope === "segment") (segs.get(r.key) ?? segs.set(r.key, zeroCounts()).get(r.key)!)[r.name] = r.n;
			else if (r.scope === "hour" && hours.has(Number(r.key))) hours.get(Number(r.key))![r.name] = r.n;
		}
		const mappingIds = new Map(
			this.sql.exec<{ segment_id: string; mapping_id: number }>(`SELECT * FROM segments`).toArray().map((r) => [r.segment_id, r.mapping_id]),
		);
		const oldest = this.sql.exec<{ at: number | null }>(`SELECT MIN(received_at) AS at FROM updates INDEXED BY updates_waiting WHERE state = 'pending' AND hold IS NULL`).one().at;
		const withoutHeld = ({ held: _held, ...c }: Counts) => c;
		return {
			totals,
			segments: [...segs].map(([segmentId, c]) => ({ segmentId, mappingId: mappingIds.get(segmentId) ?? 0, ...withoutHeld(c) })),
			aepAudiences: this.aepAudiences().map((a) => ({ ...a, ...withoutHeld(segs.get(a.segmentId) ?? zeroCounts()) })),
			hours: [...hours].map(([h, c]) => ({ hour: new Date(h).toISOString(), ...withoutHeld(c) })),
			oldestPendingAt: oldest === null ? null : new Date(oldest).toISOString(),
			waiting: waitingOf(totals),
			recentErrors: this.sql
				.exec<{ at: number; kind: string; update_id: string | null; prospect_id: number | null; message: string }>(
					`SELECT * FROM errors ORDER BY seq DESC LIMIT 20`,
				)
				.toArray()
				.map((e) => ({ at: new Date(e.at).toISOString(), kind: e.kind, updateId: e.update_id, prospectId: e.prospect_id, message: e.message })),
		};
	}

	/** The audiences mapped in AEP that this destination has received, newest first (for the console and mapping/verify). */
	aepAudiences(): (AepAudience & { firstSeen: string; lastSeen: string })[] {
		return this.sql
			.exec<{ segment_id: string; namespace: string; mapping_id: number; first_seen: number; last_seen: number }>(
				`SELECT * FROM aep_audiences ORDER BY last_seen DESC LIMIT 500`,
			)
			.toArray()
			.map((r) => ({
				segmentId: r.segment_id,
				namespace: r.namespace,
				mappingId: r.mapping_id,
				firstSeen: new Date(r.first_seen).toISOString(),
				lastSeen: new Date(r.last_seen).toISOString(),
			}));
	}

	/**
	 * Updates waiting to be delivered and not held (the backlog this destination adds to its Outreach user's),
	 * from the running counts: counting them read every waiting row's index entry, a million of them after a
	 * back-fill's arrival, on every activity poll.
	 */
	waiting(): number {
		const totals = zeroCounts();
		for (const r of this.sql.exec<{ name: CountName; n: number }>(`SELECT name, n FROM counts WHERE scope = 'total' AND key = ''`)) totals[r.name] = r.n;
		return waitingOf(totals);
	}

	// ─── the alarm: the outbox, releases, rechecks, mirrors, pruning ───

	/** Makes sure the alarm fires by `at`. */
	private async wakeAt(at: number): Promise<void> {
		if (this.alarmAt !== null && this.alarmAt <= at) return;
		const current = await this.ctx.storage.getAlarm();
		if (current !== null && current <= at) {
			this.alarmAt = current;
			return;
		}
		await this.ctx.storage.setAlarm(at);
		this.alarmAt = at;
	}

	override async alarm(): Promise<void> {
		this.alarmAt = null;
		const now = Date.now();
		const destinationId = this.destinationId();
		if (this.authority.current() === null && this.ctx.storage.kv.get("destination.erased")) return;
		if (this.authority.mirrorPending() && destinationId) await this.authority.mirror(destinationId);
		const pending = this.authority.current()?.pendingConnection;
		if (pending && pending.expiresAt <= now) {
			await gateStub(this.env, pending.gate).dropPendingGrant(destinationId).catch(() => {});
			await this.authority.update(destinationId, (r) => ({ ...r, pendingConnection: null }));
		}
		const heldForReconnect = this.sql.exec(`SELECT 1 FROM updates WHERE hold = 'reconnect' LIMIT 1`).toArray().length > 0;
		const lastRecheck = (this.ctx.storage.kv.get("reconnect.checkedAt") as number | undefined) ?? 0;
		if (heldForReconnect && now - lastRecheck >= RECONNECT_RECHECK_MS) {
			this.ctx.storage.kv.put("reconnect.checkedAt", now);
			await this.recheckReconnect();
		}
		const nextSend = destinationId ? await this.outbox.send(destinationId, Date.now(), (ids) => this.heldAtGate(ids)) : null;
		const lastPrune = (this.ctx.storage.kv.get("maintenance.prunedAt") as number | undefined) ?? 0;
		let pruneMore = false;
		if (now - lastPrune >= DAY) {
			// Done for the day only once nothing aged is left; until then the alarm comes back for the next page.
			pruneMore = this.prune(now).more;
			if (!pruneMore) this.ctx.storage.kv.put("maintenance.prunedAt", now);
		}
		const candidates = [now + DAY];
		if (pruneMore) candidates.push(now + PRUNE_PAUSE_MS);
		if (nextSend !== null) candidates.push(nextSend);
		if (this.authority.mirrorPending()) candidates.push(now + this.outboxLeaseMs);
		if (pending) candidates.push(pending.expiresAt);
		if (heldForReconnect) candidates.push(now + RECONNECT_RECHECK_MS);
		const left = this.sql.exec(`SELECT 1 FROM updates LIMIT 1`).toArray().length;
		if (left === 0 && nextSend === null && !heldForReconnect && !pending && !this.authority.mirrorPending()) return;
		await this.wakeAt(Math.max(Date.now(), Math.min(...candidates)));
	}

	/** Which of these updates the destination's gate holds in bulk (null: it has no gate). */
	private async heldAtGate(ids: string[]): Promise<Set<string> | null> {
		const record = this.authority.current();
		if (!record?.gate) return null;
		return new Set(await gateStub(this.env, record.gate).holding(record.id, ids));
	}

	/**
	 * Deletes delivered, superseded and failed rows last touched before the retention period (the counters stay),
	 * and recent errors older than it (their messages may quote a value Outreach refused). Pending and held
	 * updates are work still to do and stay until they end; they then age like the rest.
	 */
	prune(now: number, page = PRUNE_PAGE): { deleted: number; more: boolean } {
		const cutoff = now - config(this.env).RETENTION_DAYS * DAY;
		this.sql.exec(`DELETE FROM errors WHERE at < ?`, cutoff);
		// A row ends after it arrived (updated_at ≥ received_at), so only rows received before the cutoff can be
		// aged: updates_state's range on received_at finds them without reading the newer rows.
		const deleted = this.sql
			.exec(
				`DELETE FROM updates WHERE rowid IN (SELECT rowid FROM updates INDEXED BY updates_state
				 WHERE state IN ('delivered', 'superseded', 'failed') AND received_at < ? AND updated_at < ? LIMIT ?) RETURNING 1`,
				cutoff,
				cutoff,
				page,
			)
			.toArray().length;
		return { deleted, more: deleted === page };
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

	// ─── one prospect: trace and erasure ───

	/**
	 * What this destination holds for one prospect: per field the newest update carrying it (its value, state
	 * and when), the recent events of its updates, and the gate's versions. Null when nothing is held.
	 */
	async prospectTrace(destinationId: string, prospectId: number): Promise<ProspectTrace | null> {
		this.destinationId(destinationId);
		const rows = this.sql.exec<Row & { updated_at: number }>(`SELECT * FROM updates INDEXED BY updates_prospect WHERE prospect_id = ? ORDER BY received_at DESC, id DESC LIMIT 200`, prospectId).toArray();
		const gate = this.authority.current()?.gate;
		const versions = gate ? await gateStub(this.env, gate).prospectVersions(destinationId, prospectId).catch(() => []) : [];
		const errors = this.sql
			.exec<{ at: number; kind: string; update_id: string | null; message: string }>(`SELECT at, kind, update_id, message FROM errors WHERE prospect_id = ? ORDER BY seq DESC`, prospectId)
			.toArray();
		if (rows.length === 0 && versions.length === 0 && errors.length === 0) return null;
		const iso = (t: number) => new Date(t).toISOString();
		const fields = new Map<string, ProspectTrace["fields"][number]>();
		const events: ProspectTrace["events"] = [];
		const mapping = await this.authority.mapping(destinationId);
		for (const r of rows) {
			const state: TraceState = r.state === "pending" && r.hold ? "held" : r.state;
			const payload = r.payload ? (JSON.parse(r.payload) as Partial<Update>) : null;
			// A delivered update no longer carries its payload: its fields are mapped again from its source data.
			const source = SourceData.safeParse(JSON.parse(r.source));
			const mapped: Record<string, { value: FieldValue | null }> = { ...(mapping && source.success ? fieldsFrom(source.data, mapping).fields : {}), ...(payload?.fields ?? {}) };
			const failedFields = new Set(r.failed_fields ? (JSON.parse(r.failed_fields) as string[]) : []);
			for (const field of failedFields) mapped[field] ??= { value: null };
			for (const [field, f] of Object.entries(mapped)) {
				// A failed update fails only the fields Outreach refused; its other fields were written.
				const fieldState: TraceState = r.state === "failed" && !failedFields.has(field) ? "delivered" : state;
				if (!fields.has(field)) fields.set(field, { field, value: f.value, state: fieldState, at: iso(r.updated_at), updateId: r.id, receivedAt: iso(r.received_at) });
			}
			events.push({ at: iso(r.received_at), kind: "received", updateId: r.id, detail: `segments ${(JSON.parse(r.segments) as SegmentRef[]).map((x) => x.segmentId).join(", ") || "none"}` });
			if (r.first_failed_at !== null) events.push({ at: iso(r.first_failed_at), kind: "failed", updateId: r.id, detail: r.reason ?? "failed" });
			if (r.first_failed_at !== null && r.state !== "failed") events.push({ at: iso(r.updated_at), kind: "replayed", updateId: r.id, detail: `now ${state}` });
			if (r.state === "delivered") events.push({ at: iso(r.updated_at), kind: "written", updateId: r.id, detail: this.authority.current()?.bulkApi ? "by PATCH or bulk" : "by PATCH" });
			if (r.state === "superseded") events.push({ at: iso(r.updated_at), kind: "superseded", updateId: r.id, detail: "a newer value won" });
		}
		for (const e of errors) events.push({ at: iso(e.at), kind: "error", updateId: e.update_id, detail: `${e.kind}: ${e.message}` });
		events.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
		return {
			prospectId,
			fields: [...fields.values()],
			events: events.slice(0, 100),
			versions: versions.map((v) => ({ field: v.field, observedAt: iso(v.observedAt), updateId: v.updateId, confirmed: v.confirmed })),
		};
	}

	/**
	 * Erases `prospectIds` from this destination: every update (pending, held, delivered, failed, superseded) with
	 * its source data and payload, their recent errors, and — through the gate — their versions and waiting bulk
	 * writes. A copy already in the queue is refused by the gate (observed before the erasure) and its report finds
	 * no row here, so it is never sent. The counts keep their totals (they hold no values), except that erased
	 * work no longer counts as pending or held.
	 */
	async eraseProspects(destinationId: string, prospectIds: number[]): Promise<ErasureReport> {
		this.destinationId(destinationId);
		const at = Date.now();
		const report: ErasureReport = {
			prospectIds,
			updates: { pending: 0, held: 0, delivered: 0, failed: 0, superseded: 0 },
			failures: 0,
			events: 0,
			versions: 0,
			bulkWrites: 0,
		};
		// The gate first: once it refuses older work, nothing deleted here can be written by a copy in flight.
		const gate = this.authority.current()?.gate;
		if (gate) {
			const updateIds = prospectIds.flatMap((p) => this.sql.exec<{ id: string }>(`SELECT id FROM updates INDEXED BY updates_prospect WHERE prospect_id = ? AND state = 'pending'`, p).toArray().map((r) => r.id));
			const g = await gateStub(this.env, gate).eraseProspects(destinationId, prospectIds, at, updateIds);
			report.versions = g.versions;
			report.bulkWrites = g.bulkItems;
		}
		const tally = new Tally();
		for (const p of prospectIds) {
			const rows = this.sql.exec<Row>(`SELECT * FROM updates INDEXED BY updates_prospect WHERE prospect_id = ?`, p).toArray();
			for (const r of rows) {
				if (r.state === "pending" && r.hold) {
					report.updates.held++;
					tally.add("held", -1, r.hour, []);
				} else report.updates[r.state]++;
				if (r.first_failed_at !== null) report.failures++;
				if (r.state === "pending") tally.add("pending", -1, r.hour, JSON.parse(r.segments) as SegmentRef[]);
			}
			this.sql.exec(`DELETE FROM updates INDEXED BY updates_prospect WHERE prospect_id = ?`, p);
			report.events += this.sql.exec<{ seq: number }>(`DELETE FROM errors WHERE prospect_id = ? RETURNING seq`, p).toArray().length;
		}
		tally.write(this.sql);
		return report;
	}

	/** Erases everything this destination's ledger holds (DELETE /api/destinations/:id). */
	async erase(): Promise<void> {
		await this.ctx.storage.deleteAlarm();
		this.alarmAt = null;
		await this.ctx.storage.deleteAll();
		this.init();
		this.requests.init();
		this.authority.erase();
	}
}

export function ledgerStub(env: Env, destinationId: string): DurableObjectStub<Ledger> {
	return env.LEDGER.getByName(destinationId) as DurableObjectStub<Ledger>;
}
