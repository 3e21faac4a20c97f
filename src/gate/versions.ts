import { compareVersions, type Version } from "../updates/update";

/**
 * Which value wins, in the gate's SQLite storage (design: "Which value wins"). Checked and advanced in the
 * same synchronous step that grants a call, so concurrent consumers never write an older value over a newer one.
 *
 * - `versions`: the newest version applied or granted per (destination, prospect, field), with the update that
 *   carried it (the tie-break) and whether Outreach confirmed it.
 * - `field_revisions`: the newest mapping revision known per (destination, field); an update made under an
 *   older one is stale whether or not anything was written under the new one yet.
 * - `last_writes`: per (prospect, field), the destination and observedAt of the last granted write, so an
 *   update must also beat, by observedAt, what another destination wrote to the same field.
 * - `field_locks`: a field is locked from its grant until its call is settled or its lease ends: two PATCHes
 *   of one field in flight may reach Outreach in either order.
 */

/** One field a call wants to write: its version and the update that supplies it. */
export type FieldVersion = { v: Version; u: string };

export type FieldCheck =
	/** These fields may be written now. */
	| { kind: "fresh"; fields: string[] }
	/** Every field is already at a newer version, or mapped under an older revision: superseded. */
	| { kind: "stale" }
	/** This very version already reached Outreach (a duplicate or a retried batch): delivered. */
	| { kind: "done" }
	/** A field is being written by another call; come back at `until`. */
	| { kind: "busy"; until: number };

type VersionRow = { field: string; r: number; t: number; o: number; s: number; u: string; confirmed: number; touched_at: number };

/** One prospect's fields for one destination: a PATCH's fields, or a bulk item's single field. */
export type VersionItem = { destinationId: string; prospectId: number; fields: Record<string, FieldVersion> };

/** A granted call's fields, locked for its lease. */
export type VersionGrant = VersionItem & { grantId: number; leaseUntil: number };

/** A call's fields once its answer is in (or is known never to come). */
export type VersionSettlement = VersionItem & { grantId: number; outcome: { delivered: boolean; known: boolean } };

/** How `lockedNow` names a field taken earlier in the same step: fields are locked per prospect, whatever the destination. */
export const lockKey = (prospectId: number, field: string): string => `${prospectId}\u0000${field}`;

/** A version row as it moves between gates (a reconnect as another Outreach user, or an upgrade). */
export type ExportedVersion = { prospectId: number; field: string; v: Version; u: string; confirmed: boolean };

const DAY = 86_400_000;

const rowVersion = (r: Pick<VersionRow, "r" | "t" | "o" | "s">): Version => [r.r, r.t, r.o, r.s];

export class FieldVersions {
	private readonly sql: SqlStorage;

	constructor(storage: DurableObjectStorage) {
		this.sql = storage.sql;
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS versions (
				destination_id TEXT NOT NULL, prospect_id INTEGER NOT NULL, field TEXT NOT NULL,
				r INTEGER NOT NULL, t INTEGER NOT NULL, o INTEGER NOT NULL, s INTEGER NOT NULL, u TEXT NOT NULL,
				confirmed INTEGER NOT NULL DEFAULT 0, touched_at INTEGER NOT NULL,
				PRIMARY KEY (destination_id, prospect_id, field));
			CREATE INDEX IF NOT EXISTS versions_touched ON versions (touched_at);
			CREATE TABLE IF NOT EXISTS field_revisions (destination_id TEXT NOT NULL, field TEXT NOT NULL, r INTEGER NOT NULL,
				PRIMARY KEY (destination_id, field));
			CREATE TABLE IF NOT EXISTS last_writes (prospect_id INTEGER NOT NULL, field TEXT NOT NULL, destination_id TEXT NOT NULL,
				o INTEGER NOT NULL, u TEXT NOT NULL, touched_at INTEGER NOT NULL, PRIMARY KEY (prospect_id, field));
			CREATE TABLE IF NOT EXISTS field_locks (prospect_id INTEGER NOT NULL, field TEXT NOT NULL, until INTEGER NOT NULL,
				grant_id INTEGER NOT NULL, PRIMARY KEY (prospect_id, field));
			CREATE TABLE IF NOT EXISTS erased_prospects (destination_id TEXT NOT NULL, prospect_id INTEGER NOT NULL,
				erased_at INTEGER NOT NULL, PRIMARY KEY (destination_id, prospect_id));
			CREATE TABLE IF NOT EXISTS erased_updates (destination_id TEXT NOT NULL, update_id TEXT NOT NULL, erased_at INTEGER NOT NULL,
				PRIMARY KEY (destination_id, update_id));
			CREATE TABLE IF NOT EXISTS slot_joins (reservation INTEGER NOT NULL, field TEXT NOT NULL,
				r INTEGER NOT NULL, t INTEGER NOT NULL, o INTEGER NOT NULL, s INTEGER NOT NULL, u TEXT NOT NULL, until INTEGER NOT NULL,
				PRIMARY KEY (reservation, field));
		`);
	}

	// ─── calls waiting on one reserved slot ───
	// A newer update of a prospect whose older call already waits for a reserved slot takes that slot too (it
	// joins it) instead of booking one more: the two then come back together and make one call. The joiner's
	// versions are kept with the slot, so that the older call, should it come back alone, is seen to be
	// overtaken in every field and is superseded without a call, leaving the slot to the newer one.

	/** Keeps `fields` (newer ones only) as waiting on `reservation` until `until`. */
	join(reservation: number, fields: Record<string, FieldVersion>, until: number): void {
		for (const [field, { v, u }] of Object.entries(fields)) {
			const row = this.sql.exec<VersionRow>(`SELECT r, t, o, s, u FROM slot_joins WHERE reservation = ? AND field = ?`, reservation, field).toArray()[0];
			if (row && compareVersions(v, rowVersion(row), u, row.u) <= 0) continue;
			this.sql.exec(
				`INSERT OR REPLACE INTO slot_joins (reservation, field, r, t, o, s, u, until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				reservation,
				field,
				v[0],
				v[1],
				v[2],
				v[3],
				u,
				until,
			);
		}
	}

	/** The slot was used: its joiners came back with it, or will book their own. */
	dropJoins(reservation: number): void {
		this.sql.exec(`DELETE FROM slot_joins WHERE reservation = ?`, reservation);
	}

	/** Records revisions a consumer's view of a destination's mapping knows, keeping the highest ever seen. */
	learnRevisions(destinationId: string, revisions: Record<string, number>): void {
		writeRevisions(this.sql, Object.entries(revisions).map(([field, r]) => [destinationId, field, r]));
	}

	/**
	 * What the gate holds of `items`' prospects (and of the `reservations` their calls present), read with one
	 * query per table, to check them one after another in memory (VersionBatch). For one synchronous step.
	 */
	load(items: readonly VersionItem[], now: number, reservations: readonly number[] = []): VersionBatch {
		return new VersionBatch(this.sql, items, now, reservations);
	}

	/**
	 * `check` for each item, in order, with what the batch needs read once (not once per item). `onChecked` runs
	 * after each item's check and before the next one's: a caller that takes an item's fresh fields adds them to
	 * `lockedNow` there (`lockKey`), so a later item of the same prospect field sees them taken, as it would had
	 * each item been checked alone.
	 */
	checkMany(
		items: readonly VersionItem[],
		now: number,
		lockedNow: ReadonlySet<string> = new Set(),
		onChecked?: (check: FieldCheck, index: number) => void,
	): FieldCheck[] {
		const batch = this.load(items, now);
		const checks = items.map((item, i) => {
			const check = batch.check(item, lockedNow);
			onChecked?.(check, i);
			return check;
		});
		batch.finish();
		return checks;
	}

	/**
	 * Which of `fields` may be written now (VersionBatch.check has the rule). `lockedNow` holds the fields locked
	 * earlier in the same admission step.
	 */
	check(destinationId: string, prospectId: number, fields: Record<string, FieldVersion>, now: number, lockedNow: ReadonlySet<string> = new Set()): FieldCheck {
		return this.checkMany([{ destinationId, prospectId, fields }], now, lockedNow)[0]!;
	}

	/** Advances a granted call's fields to its versions and locks them for the grant's lease. */
	advance(destinationId: string, prospectId: number, fields: Record<string, FieldVersion>, grantId: number, now: number, leaseUntil: number): void {
		this.advanceMany([{ destinationId, prospectId, fields, grantId, leaseUntil }], now);
	}

	/** `advance` for many granted calls, one statement per table; a field granted twice ends as the later grant left it. */
	advanceMany(grants: readonly VersionGrant[], now: number): void {
		const rows = grants.flatMap((g) => Object.entries(g.fields).map(([field, { v, u }]) => [g.destinationId, g.prospectId, field, ...v, u, g.grantId, g.leaseUntil] as const));
		for (const chunk of chunks(rows)) {
			const json = JSON.stringify(chunk);
			// ORDER BY key: rows are applied in the grants' order, as one advance after another would.
			this.sql.exec(
				`INSERT INTO versions (destination_id, prospect_id, field, r, t, o, s, u, confirmed, touched_at)
				 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, 0, ?
				 FROM json_each(?) WHERE true ORDER BY key
				 ON CONFLICT (destination_id, prospect_id, field) DO UPDATE SET r = excluded.r, t = excluded.t, o = excluded.o,
				   s = excluded.s, u = excluded.u, confirmed = 0, touched_at = excluded.touched_at`,
				now,
				json,
			);
			this.sql.exec(
				`INSERT INTO last_writes (prospect_id, field, destination_id, o, u, touched_at)
				 SELECT value ->> 1, value ->> 2, value ->> 0, value ->> 5, value ->> 7, ? FROM json_each(?) WHERE true ORDER BY key
				 ON CONFLICT (prospect_id, field) DO UPDATE SET destination_id = excluded.destination_id, o = excluded.o,
				   u = excluded.u, touched_at = excluded.touched_at`,
				now,
				json,
			);
			this.sql.exec(
				`INSERT INTO field_locks (prospect_id, field, until, grant_id)
				 SELECT value ->> 1, value ->> 2, value ->> 9, value ->> 8 FROM json_each(?) WHERE true ORDER BY key
				 ON CONFLICT (prospect_id, field) DO UPDATE SET until = excluded.until, grant_id = excluded.grant_id`,
				json,
			);
		}
	}

	/**
	 * Settles a call's fields: Outreach's answer is known (`known`), so the grant's locks are released, and the
	 * delivered versions are confirmed. When the answer is unknown (timeout, network), the locks stay until the
	 * lease ends: the PATCH may still be applied.
	 */
	settle(destinationId: string, prospectId: number, fields: Record<string, FieldVersion>, grantId: number, outcome: { delivered: boolean; known: boolean }): void {
		this.settleMany([{ destinationId, prospectId, fields, grantId, outcome }]);
	}

	/** `settle` for many calls, one statement per table. */
	settleMany(calls: readonly VersionSettlement[]): void {
		const released = calls.filter((c) => c.outcome.known).flatMap((c) => Object.keys(c.fields).map((field) => [c.prospectId, field, c.grantId] as const));
		for (const chunk of chunks(released))
			this.sql.exec(
				`DELETE FROM field_locks WHERE rowid IN (SELECT l.rowid FROM json_each(?) AS k CROSS JOIN field_locks AS l
				   ON l.prospect_id = k.value ->> 0 AND l.field = k.value ->> 1 AND l.grant_id = k.value ->> 2)`,
				JSON.stringify(chunk),
			);
		const delivered = calls
			.filter((c) => c.outcome.delivered)
			.flatMap((c) => Object.entries(c.fields).map(([field, { v, u }]) => [c.destinationId, c.prospectId, field, ...v, u] as const));
		for (const chunk of chunks(delivered))
			this.sql.exec(
				`UPDATE versions SET confirmed = 1 WHERE rowid IN (SELECT v.rowid FROM json_each(?) AS k CROSS JOIN versions AS v
				   ON v.destination_id = k.value ->> 0 AND v.prospect_id = k.value ->> 1 AND v.field = k.value ->> 2
				   AND v.r = k.value ->> 3 AND v.t = k.value ->> 4 AND v.o = k.value ->> 5 AND v.s = k.value ->> 6 AND v.u = k.value ->> 7)`,
				JSON.stringify(chunk),
			);
	}

	/** Extends the locks a grant holds (a bulk batch that is making progress keeps its fields). */
	renew(grantId: number, until: number): void {
		this.sql.exec(`UPDATE field_locks SET until = MAX(until, ?) WHERE grant_id = ?`, until, grantId);
	}

	/** Whether each of these versions is the one Outreach confirmed (the dead-letter consumer asks). */
	confirmed(destinationId: string, prospectId: number, fields: Record<string, FieldVersion>): boolean {
		return Object.entries(fields).every(([field, { v, u }]) => {
			const row = this.sql
				.exec<VersionRow>(`SELECT * FROM versions WHERE destination_id = ? AND prospect_id = ? AND field = ?`, destinationId, prospectId, field)
				.toArray()[0];
			return row !== undefined && row.confirmed === 1 && compareVersions(v, rowVersion(row), u, row.u) <= 0;
		});
	}

	/** The latest time a lock of this destination's fields may still be held (0 when none is). */
	busyUntil(destinationId: string, now: number): number {
		return (
			this.sql
				.exec<{ until: number | null }>(
					`SELECT MAX(l.until) AS until FROM field_locks l JOIN versions v ON v.prospect_id = l.prospect_id AND v.field = l.field
					 WHERE v.destination_id = ? AND l.until > ?`,
					destinationId,
					now,
				)
				.one().until ?? 0
		);
	}

	/**
	 * A page of a destination's versions for another gate, in key order after `after`. Includes the shared
	 * `field_versions` of gates written before versions were kept per destination (an upgrade), as revision 0.
	 */
	exportPage(destinationId: string, after: { prospectId: number; field: string } | null, limit: number): ExportedVersion[] {
		if (after?.field.startsWith("\u0001")) return this.exportLegacyPage(after, limit);
		const [p, f] = after ? [after.prospectId, after.field] : [-1, ""];
		const rows = this.sql
			.exec<VersionRow & { prospect_id: number }>(
				`SELECT * FROM versions WHERE destination_id = ? AND (prospect_id > ? OR (prospect_id = ? AND field > ?))
				 ORDER BY prospect_id, field LIMIT ?`,
				destinationId,
				p,
				p,
				f,
				limit,
			)
			.toArray()
			.map((r) => ({ prospectId: r.prospect_id, field: r.field, v: rowVersion(r), u: r.u, confirmed: r.confirmed === 1 }));
		return rows.length ? rows : this.exportLegacyPage(after, limit);
	}

	private hasLegacyTable(): boolean {
		return this.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'field_versions'`).toArray().length > 0;
	}

	/** Rows of the pre-upgrade table, keyed by (prospect, field) only: they apply to any destination of the gate. */
	private exportLegacyPage(after: { prospectId: number; field: string } | null, limit: number): ExportedVersion[] {
		if (!this.hasLegacyTable()) return [];
		// Legacy rows sort after every per-destination row: they are read once the destination's own are done.
		const [p, f] = after && after.field.startsWith("\u0001") ? [after.prospectId, after.field.slice(1)] : [-1, ""];
		return this.sql
			.exec<{ prospect_id: number; field: string; q: number; o: number; s: number; confirmed: number }>(
				`SELECT * FROM field_versions WHERE prospect_id > ? OR (prospect_id = ? AND field > ?) ORDER BY prospect_id, field LIMIT ?`,
				p,
				p,
				f,
				limit,
			)
			.toArray()
			.map((r) => ({ prospectId: r.prospect_id, field: `\u0001${r.field}`, v: [0, r.q || r.o, r.o, r.s] as Version, u: "", confirmed: r.confirmed === 1 }));
	}

	/** Takes versions from another gate, keeping whichever of the two is newer for each field. */
	importPage(destinationId: string, rows: ExportedVersion[], now: number): void {
		for (const row of rows) {
			const field = row.field.startsWith("\u0001") ? row.field.slice(1) : row.field;
			const cur = this.sql
				.exec<VersionRow>(`SELECT * FROM versions WHERE destination_id = ? AND prospect_id = ? AND field = ?`, destinationId, row.prospectId, field)
				.toArray()[0];
			if (cur && compareVersions(rowVersion(cur), row.v, cur.u, row.u) >= 0) continue;
			const [r, t, o, s] = row.v;
			this.sql.exec(
				`INSERT INTO versions (destination_id, prospect_id, field, r, t, o, s, u, confirmed, touched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				 ON CONFLICT (destination_id, prospect_id, field) DO UPDATE SET r = excluded.r, t = excluded.t, o = excluded.o,
				   s = excluded.s, u = excluded.u, confirmed = excluded.confirmed, touched_at = excluded.touched_at`,
				destinationId,
				row.prospectId,
				field,
				r,
				t,
				o,
				s,
				row.u,
				row.confirmed ? 1 : 0,
				now,
			);
		}
	}

	/** Forgets a destination's versions here (it moved to another gate, which now holds them). */
	forget(destinationId: string): void {
		this.sql.exec(`DELETE FROM versions WHERE destination_id = ?`, destinationId);
		this.sql.exec(`DELETE FROM field_revisions WHERE destination_id = ?`, destinationId);
	}

	/**
	 * Erases what this gate knows of `prospectIds` for one destination — versions and the last write's
	 * bookkeeping — and remembers the erasure (ids and time only) so that a copy of older work still in the
	 * queue is superseded instead of sent. Answers how many version rows were removed.
	 */
	erase(destinationId: string, prospectIds: number[], at: number, updateIds: string[] = []): number {
		let removed = 0;
		for (const u of updateIds)
			this.sql.exec(`INSERT OR REPLACE INTO erased_updates (destination_id, update_id, erased_at) VALUES (?, ?, ?)`, destinationId, u, at);
		for (const p of prospectIds) {
			removed += this.sql.exec(`DELETE FROM versions WHERE destination_id = ? AND prospect_id = ?`, destinationId, p).rowsWritten;
			this.sql.exec(`DELETE FROM last_writes WHERE destination_id = ? AND prospect_id = ?`, destinationId, p);
			this.sql.exec(
				`INSERT INTO erased_prospects (destination_id, prospect_id, erased_at) VALUES (?, ?, ?)
				 ON CONFLICT (destination_id, prospect_id) DO UPDATE SET erased_at = MAX(erased_at, excluded.erased_at)`,
				destinationId,
				p,
				at,
			);
		}
		return removed;
	}

	/** The version rows held for one prospect of a destination (the prospect trace): field, version time, confirmed, when. */
	held(destinationId: string, prospectId: number): { field: string; observedAt: number; updateId: string; confirmed: boolean; touchedAt: number }[] {
		return this.sql
			.exec<VersionRow>(`SELECT * FROM versions WHERE destination_id = ? AND prospect_id = ? ORDER BY field`, destinationId, prospectId)
			.toArray()
			.map((r) => ({ field: r.field, observedAt: r.o, updateId: r.u, confirmed: r.confirmed === 1, touchedAt: r.touched_at }));
	}

	/** Deletes versions nobody touched since `before`, and expired locks. */
	prune(before: number, now: number): number {
		// An erasure is remembered as long as a copy observed before it could still arrive (the same horizon).
		this.sql.exec(`DELETE FROM erased_prospects WHERE erased_at < ?`, before);
		this.sql.exec(`DELETE FROM erased_updates WHERE erased_at < ?`, before);
		const n = this.sql.exec(`DELETE FROM versions WHERE touched_at < ?`, before).rowsWritten;
		this.sql.exec(`DELETE FROM last_writes WHERE touched_at < ?`, before);
		this.sql.exec(`DELETE FROM field_locks WHERE until < ?`, now);
		this.sql.exec(`DELETE FROM slot_joins WHERE until < ?`, now);
		return n;
	}
}

/**
 * Keys a statement binds as one JSON array: a bound value is limited in size (2 MB), and a key or a row of a
 * grant is at most a few hundred bytes, so a larger batch goes in chunks of this many, still a handful of
 * statements where one per item would be thousands.
 */
const CHUNK = 5_000;

function* chunks<T>(rows: readonly T[]): Generator<T[]> {
	for (let i = 0; i < rows.length; i += CHUNK) yield rows.slice(i, i + CHUNK);
}

/** The rows of `sql` for every key of `keys` (bound as JSON arrays), one statement per chunk of keys. */
function rowsFor<R extends Record<string, SqlStorageValue>>(sql: SqlStorage, keys: readonly unknown[], query: string, ...bindings: SqlStorageValue[]): R[] {
	return [...chunks(keys)].flatMap((chunk) => sql.exec<R>(query, JSON.stringify(chunk), ...bindings).toArray());
}

function writeRevisions(sql: SqlStorage, rows: readonly (readonly [destinationId: string, field: string, r: number])[]): void {
	for (const chunk of chunks(rows))
		sql.exec(
			`INSERT INTO field_revisions (destination_id, field, r) SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true
			 ON CONFLICT (destination_id, field) DO UPDATE SET r = MAX(r, excluded.r)`,
			JSON.stringify(chunk),
		);
}

const key = (...parts: (string | number)[]): string => parts.join("\u0000");

function unique<T>(values: T[], keyOf: (v: T) => string): T[] {
	return [...new Map(values.map((v) => [keyOf(v), v])).values()];
}

/**
 * What the gate holds of one batch of items, read once, and the rule that decides each item from it (design:
 * "Which value wins"). Valid for one synchronous step: nothing else writes these tables meanwhile, and what the
 * step itself changes — revisions it learns, versions it touches — is kept here and written by `finish`.
 */
export class VersionBatch {
	private readonly own = new Map<string, VersionRow>();
	private readonly others = new Map<string, { destination_id: string; o: number; u: string }>();
	private readonly locks = new Map<string, number>();
	private readonly revisions = new Map<string, number>();
	private readonly erasedAt = new Map<string, number>();
	private readonly erasedUpdates = new Set<string>();
	private readonly joins = new Map<number, Map<string, FieldVersion>>();
	private readonly loaded = new Set<string>();
	private readonly loadedSlots: ReadonlySet<number>;
	private readonly touched = new Map<string, readonly [string, number, string]>();
	private readonly learned = new Map<string, readonly [string, string, number]>();

	constructor(
		private readonly sql: SqlStorage,
		items: readonly VersionItem[],
		private readonly now: number,
		reservations: readonly number[],
	) {
		const pairs = unique(
			items.map((i) => [i.destinationId, i.prospectId] as const),
			([d, p]) => key(d, p),
		);
		for (const [d, p] of pairs) this.loaded.add(key(d, p));
		const prospects = [...new Set(pairs.map(([, p]) => p))];
		const destinations = [...new Set(pairs.map(([d]) => d))];
		// CROSS JOIN keeps json_each the outer loop, so each key is one primary-key lookup, not a scan of the destination's rows.
		for (const r of rowsFor<VersionRow & { destination_id: string; prospect_id: number }>(
			sql,
			pairs,
			`SELECT v.* FROM json_each(?) AS k CROSS JOIN versions AS v ON v.destination_id = k.value ->> 0 AND v.prospect_id = k.value ->> 1`,
		))
			this.own.set(key(r.destination_id, r.prospect_id, r.field), r);
		for (const r of rowsFor<{ prospect_id: number; field: string; destination_id: string; o: number; u: string }>(
			sql,
			prospects,
			`SELECT prospect_id, field, destination_id, o, u FROM last_writes WHERE prospect_id IN (SELECT value FROM json_each(?))`,
		))
			this.others.set(key(r.prospect_id, r.field), r);
		for (const r of rowsFor<{ prospect_id: number; field: string; until: number }>(
			sql,
			prospects,
			`SELECT prospect_id, field, until FROM field_locks WHERE prospect_id IN (SELECT value FROM json_each(?)) AND until > ?`,
			now,
		))
			this.locks.set(key(r.prospect_id, r.field), r.until);
		for (const r of rowsFor<{ destination_id: string; field: string; r: number }>(
			sql,
			destinations,
			`SELECT destination_id, field, r FROM field_revisions WHERE destination_id IN (SELECT value FROM json_each(?))`,
		))
			this.revisions.set(key(r.destination_id, r.field), r.r);
		for (const r of rowsFor<{ destination_id: string; prospect_id: number; erased_at: number }>(
			sql,
			pairs,
			`SELECT e.destination_id, e.prospect_id, e.erased_at FROM json_each(?) AS k CROSS JOIN erased_prospects AS e
			 ON e.destination_id = k.value ->> 0 AND e.prospect_id = k.value ->> 1`,
		))
			this.erasedAt.set(key(r.destination_id, r.prospect_id), r.erased_at);
		// Only an erased prospect's updates can have been erased one by one: asked only when the batch has such a prospect.
		const ofErased = unique(
			items.filter((i) => this.erasedAt.has(key(i.destinationId, i.prospectId))).flatMap((i) => Object.values(i.fields).map(({ u }) => [i.destinationId, u] as const)),
			([d, u]) => key(d, u),
		);
		for (const r of rowsFor<{ destination_id: string; update_id: string }>(
			sql,
			ofErased,
			`SELECT e.destination_id, e.update_id FROM json_each(?) AS k CROSS JOIN erased_updates AS e
			 ON e.destination_id = k.value ->> 0 AND e.update_id = k.value ->> 1`,
		))
			this.erasedUpdates.add(key(r.destination_id, r.update_id));
		this.loadedSlots = new Set(reservations);
		for (const r of rowsFor<VersionRow & { reservation: number }>(
			sql,
			[...this.loadedSlots],
			`SELECT reservation, field, r, t, o, s, u FROM slot_joins WHERE reservation IN (SELECT value FROM json_each(?))`,
		)) {
			const fields = this.joins.get(r.reservation) ?? this.joins.set(r.reservation, new Map()).get(r.reservation)!;
			fields.set(r.field, { v: rowVersion(r), u: r.u });
		}
	}

	/** `FieldVersions.learnRevisions`, seen by the checks that follow in this batch, written by `finish`. */
	learnRevisions(destinationId: string, revisions: Record<string, number>): void {
		for (const [field, r] of Object.entries(revisions)) {
			const k = key(destinationId, field);
			const highest = Math.max(this.revisions.get(k) ?? r, r);
			this.revisions.set(k, highest);
			this.learned.set(k, [destinationId, field, highest]);
		}
	}

	/**
	 * Which of `fields` may be written now. The same version again is fresh only while it is unconfirmed: a
	 * retry after a failed call must go through, a duplicate of a delivered one need not. `lockedNow` holds the
	 * fields locked earlier in the same step (`lockKey`).
	 */
	check(item: VersionItem, lockedNow: ReadonlySet<string> = new Set()): FieldCheck {
		const { destinationId, prospectId, fields } = item;
		if (!this.loaded.has(key(destinationId, prospectId))) throw new Error(`VersionBatch: prospect ${prospectId} of ${destinationId} was not loaded with this batch`);
		// An erased prospect's data observed before its erasure is never written, wherever a copy of it still travels.
		const erasedAt = this.erasedAt.get(key(destinationId, prospectId)) ?? -Infinity;
		const fresh: string[] = [];
		let busyUntil = 0;
		let landed = false;
		for (const [field, { v, u }] of Object.entries(fields)) {
			if (v[0] < (this.revisions.get(key(destinationId, field)) ?? 0)) continue; // mapped under a revision the field has since left
			// Observed before the prospect's erasure, or an update the erasure removed (whatever its clock said): never written.
			if (v[2] <= erasedAt || (erasedAt > -Infinity && this.erasedUpdates.has(key(destinationId, u)))) continue;
			const row = this.own.get(key(destinationId, prospectId, field));
			const cmp = row ? compareVersions(v, rowVersion(row), u, row.u) : 1;
			if (cmp === 0 && row!.confirmed) landed = true;
			if (cmp < 0 || (cmp === 0 && row!.confirmed)) {
				// A version checked against is still needed: kept from pruning (at most once a day per row).
				if (row && row.touched_at < this.now - DAY) {
					row.touched_at = this.now;
					this.touched.set(key(destinationId, prospectId, field), [destinationId, prospectId, field]);
				}
				continue;
			}
			const other = this.others.get(key(prospectId, field));
			if (other && other.destination_id !== destinationId && (v[2] < other.o || (v[2] === other.o && u <= other.u))) continue;
			if (lockedNow.has(lockKey(prospectId, field))) busyUntil = Math.max(busyUntil, this.now + 1);
			const lockedUntil = this.locks.get(key(prospectId, field));
			if (lockedUntil !== undefined) busyUntil = Math.max(busyUntil, lockedUntil);
			fresh.push(field);
		}
		if (busyUntil > 0) return { kind: "busy", until: busyUntil };
		if (fresh.length) return { kind: "fresh", fields: fresh };
		return landed ? { kind: "done" } : { kind: "stale" };
	}

	/** Whether a call that joined `reservation` carries a newer version of every one of `fields`. */
	overtaken(reservation: number, fields: Record<string, FieldVersion>): boolean {
		const joined = this.slot(reservation);
		const entries = Object.entries(fields);
		if (entries.length === 0) return false;
		return entries.every(([field, { v, u }]) => {
			const row = joined?.get(field);
			return row !== undefined && compareVersions(row.v, v, row.u, u) > 0;
		});
	}

	/** Whether a call joined `reservation` (then the slot is kept for it, whatever becomes of the first call). */
	joined(reservation: number): boolean {
		return this.slot(reservation) !== undefined;
	}

	private slot(reservation: number): Map<string, FieldVersion> | undefined {
		if (!this.loadedSlots.has(reservation)) throw new Error(`VersionBatch: slot ${reservation} was not loaded with this batch`);
		return this.joins.get(reservation);
	}

	/** Writes what the checks changed: the revisions learned and the versions touched. */
	finish(): void {
		writeRevisions(this.sql, [...this.learned.values()]);
		this.learned.clear();
		for (const chunk of chunks([...this.touched.values()]))
			this.sql.exec(
				`UPDATE versions SET touched_at = ? WHERE rowid IN (SELECT v.rowid FROM json_each(?) AS k CROSS JOIN versions AS v
				   ON v.destination_id = k.value ->> 0 AND v.prospect_id = k.value ->> 1 AND v.field = k.value ->> 2)`,
				this.now,
				JSON.stringify(chunk),
			);
		this.touched.clear();
	}
}
