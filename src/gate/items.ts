import type { BatchReport, HoldReason } from "../ledger/report";
import { log } from "../platform/log";
import type { Update, Version } from "../updates/update";
import type { BulkFallback } from "./path";
import type { TokenCustody } from "./tokens";
import type { FieldVersions } from "./versions";

/**
 * The writes an Outreach user's gate took to deliver in bulk (`bulk_items`), one row per (update, field), from
 * the moment they are taken until their update's outcome is recorded by its ledger. Each update goes one way as
 * a whole (`via`): `modify` (segment-only: grouped by field and value into the bulk API's batches, ./bulk.ts) or
 * `import` (one record per prospect carrying all of its changed fields, ./imports.ts). This module owns the
 * rows' life — taken, decided, reported — and the per-destination switches that send them back to PATCH
 * (fallbacks) or to be held (a pause); the two senders own how rows travel.
 */

export type BulkVia = "modify" | "import";

export type ItemRow = {
	id: number;
	destination_id: string;
	update_id: string;
	prospect_id: number;
	field: string;
	value: string;
	r: number;
	t: number;
	o: number;
	s: number;
	gen: number | null;
	attempt: number;
	state: "waiting" | "sending" | "running" | "decided";
	via: BulkVia;
	/** A re-sent part of an import whose failed records are being found (see ./imports.ts): sent as it is, at once. */
	part: string | null;
	batch_id: number | null;
	grant_id: number | null;
	outcome: "delivered" | "superseded" | "failed" | "patch" | "hold" | null;
	reason: string | null;
	queued_at: number;
};

export const versionOf = (r: Pick<ItemRow, "r" | "t" | "o" | "s">): Version => [r.r, r.t, r.o, r.s];
export const fieldOf = (i: ItemRow) => ({ [i.field]: { v: versionOf(i), u: i.update_id } });

/** Settles the versions of writes sent under one grant: one statement per table, whatever their number. */
export function settleItems(versions: FieldVersions, items: ItemRow[], grantId: number, outcome: { delivered: boolean; known: boolean }): void {
	versions.settleMany(items.map((i) => ({ destinationId: i.destination_id, prospectId: i.prospect_id, fields: fieldOf(i), grantId, outcome })));
}

/** Why held items are held: a pause, or a connection that needs a reconnect. */
const PAUSED = "paused";

export class BulkItems {
	readonly sql: SqlStorage;

	constructor(
		private readonly storage: DurableObjectStorage,
		private readonly env: Env,
		private readonly tokens: TokenCustody,
	) {
		this.sql = storage.sql;
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS bulk_items (id INTEGER PRIMARY KEY AUTOINCREMENT, destination_id TEXT NOT NULL, update_id TEXT NOT NULL,
				prospect_id INTEGER NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, r INTEGER NOT NULL, t INTEGER NOT NULL, o INTEGER NOT NULL,
				s INTEGER NOT NULL, gen INTEGER, attempt INTEGER NOT NULL, state TEXT NOT NULL, batch_id INTEGER, grant_id INTEGER,
				outcome TEXT, reason TEXT, queued_at INTEGER NOT NULL);
			CREATE INDEX IF NOT EXISTS bulk_items_state ON bulk_items (state, queued_at);
			CREATE INDEX IF NOT EXISTS bulk_items_update ON bulk_items (destination_id, update_id);
			CREATE INDEX IF NOT EXISTS bulk_items_batch ON bulk_items (batch_id);
			CREATE TABLE IF NOT EXISTS bulk_offers (at INTEGER NOT NULL, n INTEGER NOT NULL);
		`);
		// Gates made before imports: every row they hold is a segment write of the bulk API.
		const columns = new Set(this.sql.exec<{ name: string }>(`PRAGMA table_info(bulk_items)`).toArray().map((c) => c.name));
		if (!columns.has("via")) this.sql.exec(`ALTER TABLE bulk_items ADD COLUMN via TEXT NOT NULL DEFAULT 'modify'`);
		if (!columns.has("part")) this.sql.exec(`ALTER TABLE bulk_items ADD COLUMN part TEXT`);
		this.sql.exec(`CREATE INDEX IF NOT EXISTS bulk_items_prospect ON bulk_items (destination_id, prospect_id)`);
		// A fresh instance has nothing in flight: rows left 'sending' were cut off by a restart between their grant
		// and Outreach's answer. They wait again; the locks taken for them hold them back until their lease ends
		// (had the request started a batch or an import, it writes the same versions).
		this.sql.exec(`UPDATE bulk_items SET state = 'waiting', grant_id = NULL WHERE state = 'sending'`);
	}

	// ─── switches ───

	/** Why a destination's writes go by PATCH now on a bulk path it may otherwise use, and until when; null when they need not. */
	fallback(via: BulkVia, destinationId: string, now = Date.now()): BulkFallback | null {
		const f = this.storage.kv.get(`${via === "modify" ? "bulk" : "imports"}.fallback.${destinationId}`) as BulkFallback | undefined;
		return f && f.until > now ? f : null;
	}

	fallBack(via: BulkVia, destinationIds: Iterable<string>, reason: string, until: number): void {
		const ids = [...destinationIds];
		for (const d of ids) this.storage.kv.put(`${via === "modify" ? "bulk" : "imports"}.fallback.${d}`, { reason, until } satisfies BulkFallback);
		log("warn", "bulk_fallback", { via, destinationIds: ids, reason: reason.slice(0, 200), until: new Date(until).toISOString() });
	}

	/** Every destination with writes here (a quota spent for the user sends all of them to PATCH). */
	destinations(): string[] {
		return this.sql.exec<{ d: string }>(`SELECT DISTINCT destination_id AS d FROM bulk_items`).toArray().map((r) => r.d);
	}

	paused(destinationId: string): boolean {
		return this.storage.kv.get(`paused.${destinationId}`) === true;
	}

	/**
	 * A paused destination sends nothing, bulk included: its writes not yet sent are given back to its ledger to be
	 * held, and nothing more is taken until it resumes. Writes already in a running batch or import are Outreach's.
	 * Answers how many writes were given back.
	 */
	pause(destinationId: string): number {
		this.storage.kv.put(`paused.${destinationId}`, true);
		return this.sql
			.exec(`UPDATE bulk_items SET state = 'decided', outcome = 'hold', reason = ? WHERE destination_id = ? AND state = 'waiting' RETURNING id`, PAUSED, destinationId)
			.toArray().length;
	}

	resume(destinationId: string): void {
		this.storage.kv.delete(`paused.${destinationId}`);
	}

	// ─── the backlog's pace ───

	/** Notes `n` updates offered now; answers how many were offered over the last `spanMs`, these included. */
	noteOffer(n: number, now: number, spanMs: number): number {
		this.sql.exec(`DELETE FROM bulk_offers WHERE at < ?`, now - spanMs);
		if (n > 0) this.sql.exec(`INSERT INTO bulk_offers (at, n) VALUES (?, ?)`, now, n);
		return this.sql.exec<{ n: number | null }>(`SELECT SUM(n) AS n FROM bulk_offers`).one().n ?? 0;
	}

	/**
	 * Writes waiting to go in bulk (not yet sent), from the state index: a count of fields rather than updates, so
	 * an over-count, which errs towards bulk.
	 */
	waitingWrites(): number {
		return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM bulk_items WHERE state = 'waiting'`).one().n;
	}

	// ─── rows ───

	take(destinationId: string, via: BulkVia, updates: Update[], now: number): void {
		for (const u of updates)
			for (const [field, f] of Object.entries(u.fields)) {
				const [r, t, o, s] = f.v;
				this.sql.exec(
					`INSERT INTO bulk_items (destination_id, update_id, prospect_id, field, value, r, t, o, s, gen, attempt, state, via, queued_at)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?)`,
					destinationId,
					u.id,
					u.prospectId,
					field,
					JSON.stringify(f.value),
					r,
					t,
					o,
					s,
					u.gen ?? null,
					u.attempt ?? 0,
					via,
					now,
				);
			}
	}

	/**
	 * Writes waiting to be sent on one path, oldest first. A paused destination's writes that came back to wait
	 * (a batch's leftovers, an import's re-sent half) are given back to be held instead.
	 */
	waiting(via: BulkVia, limit: number): ItemRow[] {
		const rows = this.sql.exec<ItemRow>(`SELECT * FROM bulk_items WHERE state = 'waiting' AND via = ? ORDER BY queued_at, id LIMIT ?`, via, limit).toArray();
		const paused = rows.filter((i) => this.paused(i.destination_id));
		if (paused.length) this.decide(paused, "hold", PAUSED);
		return paused.length ? rows.filter((i) => !this.paused(i.destination_id)) : rows;
	}

	running(via: BulkVia, batchId: number): ItemRow[] {
		return this.sql.exec<ItemRow>(`SELECT * FROM bulk_items WHERE batch_id = ? AND via = ? AND state = 'running'`, batchId, via).toArray();
	}

	isDecided(id: number): boolean {
		return this.sql.exec(`SELECT 1 FROM bulk_items WHERE id = ? AND state = 'decided'`, id).toArray().length > 0;
	}

	sending(items: ItemRow[], grantId: number): void {
		for (const i of items) this.sql.exec(`UPDATE bulk_items SET state = 'sending', grant_id = ? WHERE id = ?`, grantId, i.id);
	}

	runningIn(items: ItemRow[], batchId: number): void {
		for (const i of items) this.sql.exec(`UPDATE bulk_items SET state = 'running', batch_id = ? WHERE id = ?`, batchId, i.id);
	}

	backToWaiting(items: ItemRow[], part: string | null = null): void {
		for (const i of items) this.sql.exec(`UPDATE bulk_items SET state = 'waiting', grant_id = NULL, batch_id = NULL, part = ? WHERE id = ?`, part, i.id);
	}

	decide(items: ItemRow[], outcome: NonNullable<ItemRow["outcome"]>, reason: string | null = null): void {
		for (const i of items) this.sql.exec(`UPDATE bulk_items SET state = 'decided', outcome = ?, reason = ? WHERE id = ?`, outcome, reason, i.id);
	}

	/** Counts for the Activity page: writes waiting, and running in Outreach's batches and imports. */
	status(destinationId: string): { waiting: number; running: number } {
		const rows = this.sql
			.exec<{ state: string; n: number }>(`SELECT state, COUNT(*) AS n FROM bulk_items WHERE destination_id = ? AND state != 'decided' GROUP BY state`, destinationId)
			.toArray();
		const n = (s: string) => rows.find((r) => r.state === s)?.n ?? 0;
		return { waiting: n("waiting") + n("sending"), running: n("running") };
	}

	/**
	 * Erasure: the prospects' writes still waiting are decided superseded (their ledger, which erased them, ignores
	 * the report) and no value of theirs is kept in a decided row. Writes already in a running batch or import are
	 * Outreach's by now. Answers how many waiting writes were dropped.
	 */
	erase(destinationId: string, prospectIds: number[]): number {
		let dropped = 0;
		for (const p of prospectIds) {
			dropped += this.sql
				.exec<{ id: number }>(
					`UPDATE bulk_items SET state = 'decided', outcome = 'superseded', reason = 'erased', value = 'null'
					 WHERE destination_id = ? AND prospect_id = ? AND state = 'waiting' RETURNING id`,
					destinationId,
					p,
				)
				.toArray().length;
			this.sql.exec(`UPDATE bulk_items SET value = 'null' WHERE destination_id = ? AND prospect_id = ? AND state = 'decided'`, destinationId, p);
		}
		return dropped;
	}

	/** The updates of `updateIds` with a row here, whatever its state (the update index). */
	holding(destinationId: string, updateIds: string[]): string[] {
		if (updateIds.length === 0) return [];
		return this.sql
			.exec<{ update_id: string }>(
				`SELECT DISTINCT update_id FROM bulk_items INDEXED BY bulk_items_update WHERE destination_id = ? AND update_id IN (SELECT value FROM json_each(?))`,
				destinationId,
				JSON.stringify(updateIds),
			)
			.toArray()
			.map((r) => r.update_id);
	}

	hasDecided(): boolean {
		return this.sql.exec(`SELECT 1 FROM bulk_items WHERE state = 'decided' LIMIT 1`).toArray().length > 0;
	}

	// ─── outcomes to the ledgers ───

	/** Reports every update whose fields are all decided to its destination's ledger, once. */
	async report(): Promise<void> {
		// From the decided rows (the state index), those of updates with no row left undecided (the update index).
		const decided = this.sql
			.exec<{ destination_id: string; update_id: string }>(
				`SELECT DISTINCT d.destination_id, d.update_id FROM bulk_items AS d WHERE d.state = 'decided'
				 AND NOT EXISTS (SELECT 1 FROM bulk_items AS o WHERE o.destination_id = d.destination_id AND o.update_id = d.update_id AND o.state != 'decided')
				 LIMIT 5000`,
			)
			.toArray();
		const byDestination = new Map<string, string[]>();
		for (const r of decided) (byDestination.get(r.destination_id) ?? byDestination.set(r.destination_id, []).get(r.destination_id)!).push(r.update_id);
		for (const [destinationId, updateIds] of byDestination) {
			const report: BatchReport = { outcomes: [], resend: [], hold: [] };
			for (const updateId of updateIds) {
				const items = this.sql.exec<ItemRow>(`SELECT * FROM bulk_items WHERE destination_id = ? AND update_id = ?`, destinationId, updateId).toArray();
				this.outcomeOf(items, report);
			}
			try {
				// The ledger's namespace straight from the bindings: importing the ledger would import the gate back.
				await this.env.LEDGER.getByName(destinationId).settle(destinationId, report);
				for (const updateId of updateIds) this.sql.exec(`DELETE FROM bulk_items WHERE destination_id = ? AND update_id = ?`, destinationId, updateId);
			} catch (err) {
				log("error", "bulk_report_failed", { destinationId, updates: updateIds.length, error: err instanceof Error ? err.name : "Error" });
			}
		}
	}

	/** One update's outcome from its fields': delivered, superseded, failed, or sent back to go by PATCH or to be held. */
	private outcomeOf(items: ItemRow[], report: BatchReport): void {
		const first = items[0]!;
		const attempts = first.attempt + 1;
		const failed = items.filter((i) => i.outcome === "failed");
		const again = items.filter((i) => i.outcome === "patch" || i.outcome === "hold");
		const failedFields = Object.fromEntries(failed.map((i) => [i.field, i.reason ?? "failed"]));
		if (again.length) {
			const update: Update = {
				id: first.update_id,
				prospectId: first.prospect_id,
				fields: Object.fromEntries(again.map((i) => [i.field, { value: JSON.parse(i.value) as string, v: versionOf(i) }])),
				...(failed.length ? { failedFields } : {}),
				...(first.gen === null ? {} : { gen: first.gen }),
				attempt: first.attempt,
			};
			const held = again.find((i) => i.outcome === "hold");
			// Sent back by a bulk path that could not deliver it: PATCH, which names each failure's reason. Held work
			// goes whichever way the backlog says once it is released.
			if (!held) update.patchOnly = true;
			if (held?.reason === PAUSED) report.hold.push({ update, reason: "paused" satisfies HoldReason });
			else if (held) report.hold.push({ update, reason: "reconnect" satisfies HoldReason, generation: this.tokens.connection(first.destination_id)?.generation ?? 0 });
			else report.resend.push({ update, delaySeconds: 0 });
			return;
		}
		if (failed.length) report.outcomes.push({ id: first.update_id, state: "failed", fields: failed.map((i) => i.field), reason: failed.map((i) => i.reason).join(" | "), attempts });
		else if (items.every((i) => i.outcome === "superseded")) report.outcomes.push({ id: first.update_id, state: "superseded" });
		else report.outcomes.push({ id: first.update_id, state: "delivered", attempts });
	}
}
