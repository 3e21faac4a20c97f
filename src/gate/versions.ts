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

	/** Whether a call that joined `reservation` carries a newer version of every one of `fields`. */
	overtaken(reservation: number, fields: Record<string, FieldVersion>): boolean {
		const entries = Object.entries(fields);
		if (entries.length === 0) return false;
		return entries.every(([field, { v, u }]) => {
			const row = this.sql.exec<VersionRow>(`SELECT r, t, o, s, u FROM slot_joins WHERE reservation = ? AND field = ?`, reservation, field).toArray()[0];
			return row !== undefined && compareVersions(rowVersion(row), v, row.u, u) > 0;
		});
	}

	/** Whether a call joined `reservation` (then the slot is kept for it, whatever becomes of the first call). */
	joined(reservation: number): boolean {
		return this.sql.exec(`SELECT 1 FROM slot_joins WHERE reservation = ? LIMIT 1`, reservation).toArray().length > 0;
	}

	/** The slot was used: its joiners came back with it, or will book their own. */
	dropJoins(reservation: number): void {
		this.sql.exec(`DELETE FROM slot_joins WHERE reservation = ?`, reservation);
	}

	/** Records revisions a consumer's view of a destination's mapping knows, keeping the highest ever seen. */
	learnRevisions(destinationId: string, revisions: Record<string, number>): void {
		for (const [field, r] of Object.entries(revisions)) {
			this.sql.exec(
				`INSERT INTO field_revisions (destination_id, field, r) VALUES (?, ?, ?)
				 ON CONFLICT (destination_id, field) DO UPDATE SET r = MAX(r, excluded.r)`,
				destinationId,
				field,
				r,
			);
		}
	}

	private revisions(destinationId: string): Map<string, number> {
		const rows = this.sql.exec<{ field: string; r: number }>(`SELECT field, r FROM field_revisions WHERE destination_id = ?`, destinationId).toArray();
		return new Map(rows.map((r) => [r.field, r.r]));
	}

	/**
	 * Which of `fields` may be written now. The same version again is fresh only while it is unconfirmed: a
	 * retry after a failed call must go through, a duplicate of a delivered one need not. `lockedNow` holds the
	 * fields locked earlier in the same admission step.
	 */
	check(destinationId: string, prospectId: number, fields: Record<string, FieldVersion>, now: number, lockedNow: ReadonlySet<string> = new Set()): FieldCheck {
		const own = new Map(
			this.sql
				.exec<VersionRow>(`SELECT * FROM versions WHERE destination_id = ? AND prospect_id = ?`, destinationId, prospectId)
				.toArray()
				.map((r) => [r.field, r]),
		);
		const others = new Map(
			this.sql
				.exec<{ field: string; destination_id: string; o: number; u: string }>(`SELECT * FROM last_writes WHERE prospect_id = ?`, prospectId)
				.toArray()
				.map((r) => [r.field, r]),
		);
		const locks = new Map(
			this.sql
				.exec<{ field: string; until: number }>(`SELECT field, until FROM field_locks WHERE prospect_id = ? AND until > ?`, prospectId, now)
				.toArray()
				.map((r) => [r.field, r.until]),
		);
		const revisions = this.revisions(destinationId);
		// An erased prospect's data observed before its erasure is never written, wherever a copy of it still travels.
		const erasedAt =
			this.sql.exec<{ erased_at: number }>(`SELECT erased_at FROM erased_prospects WHERE destination_id = ? AND prospect_id = ?`, destinationId, prospectId).toArray()[0]
				?.erased_at ?? -Infinity;
		const fresh: string[] = [];
		let busyUntil = 0;
		let landed = false;
		for (const [field, { v, u }] of Object.entries(fields)) {
			if (v[0] < (revisions.get(field) ?? 0)) continue; // mapped under a revision the field has since left
			// Observed before the prospect's erasure, or an update the erasure removed (whatever its clock said): never written.
			if (v[2] <= erasedAt || (erasedAt > -Infinity && this.updateErased(destinationId, u))) continue;
			const row = own.get(field);
			const cmp = row ? compareVersions(v, rowVersion(row), u, row.u) : 1;
			if (cmp === 0 && row!.confirmed) landed = true;
			if (cmp < 0 || (cmp === 0 && row!.confirmed)) {
				if (row && row.touched_at < now - DAY) this.touch(destinationId, prospectId, field, now);
				continue;
			}
			const other = others.get(field);
			if (other && other.destination_id !== destinationId && (v[2] < other.o || (v[2] === other.o && u <= other.u))) continue;
			if (lockedNow.has(`${prospectId}\u0000${field}`)) busyUntil = Math.max(busyUntil, now + 1);
			const lockedUntil = locks.get(field);
			if (lockedUntil !== undefined) busyUntil = Math.max(busyUntil, lockedUntil);
			fresh.push(field);
		}
		if (busyUntil > 0) return { kind: "busy", until: busyUntil };
		if (fresh.length) return { kind: "fresh", fields: fresh };
		return landed ? { kind: "done" } : { kind: "stale" };
	}

	private touch(destinationId: string, prospectId: number, field: string, now: number): void {
		this.sql.exec(`UPDATE versions SET touched_at = ? WHERE destination_id = ? AND prospect_id = ? AND field = ?`, now, destinationId, prospectId, field);
	}

	/** Advances a granted call's fields to its versions and locks them for the grant's lease. */
	advance(destinationId: string, prospectId: number, fields: Record<string, FieldVersion>, grantId: number, now: number, leaseUntil: number): void {
		for (const [field, { v, u }] of Object.entries(fields)) {
			const [r, t, o, s] = v;
			this.sql.exec(
				`INSERT INTO versions (destination_id, prospect_id, field, r, t, o, s, u, confirmed, touched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)
				 ON CONFLICT (destination_id, prospect_id, field) DO UPDATE SET r = excluded.r, t = excluded.t, o = excluded.o,
				   s = excluded.s, u = excluded.u, confirmed = 0, touched_at = excluded.touched_at`,
				destinationId,
				prospectId,
				field,
				r,
				t,
				o,
				s,
				u,
				now,
			);
			this.sql.exec(
				`INSERT INTO last_writes (prospect_id, field, destination_id, o, u, touched_at) VALUES (?, ?, ?, ?, ?, ?)
				 ON CONFLICT (prospect_id, field) DO UPDATE SET destination_id = excluded.destination_id, o = excluded.o,
				   u = excluded.u, touched_at = excluded.touched_at`,
				prospectId,
				field,
				destinationId,
				o,
				u,
				now,
			);
			this.sql.exec(
				`INSERT INTO field_locks (prospect_id, field, until, grant_id) VALUES (?, ?, ?, ?)
				 ON CONFLICT (prospect_id, field) DO UPDATE SET until = excluded.until, grant_id = excluded.grant_id`,
				prospectId,
				field,
				leaseUntil,
				grantId,
			);
		}
	}

	/**
	 * Settles a call's fields: Outreach's answer is known (`known`), so the grant's locks are released, and the
	 * delivered versions are confirmed. When the answer is unknown (timeout, network), the locks stay until the
	 * lease ends: the PATCH may still be applied.
	 */
	settle(destinationId: string, prospectId: number, fields: Record<string, FieldVersion>, grantId: number, outcome: { delivered: boolean; known: boolean }): void {
		for (const [field, { v, u }] of Object.entries(fields)) {
			if (outcome.known) this.sql.exec(`DELETE FROM field_locks WHERE prospect_id = ? AND field = ? AND grant_id = ?`, prospectId, field, grantId);
			if (!outcome.delivered) continue;
			const [r, t, o, s] = v;
			this.sql.exec(
				`UPDATE versions SET confirmed = 1 WHERE destination_id = ? AND prospect_id = ? AND field = ? AND r = ? AND t = ? AND o = ? AND s = ? AND u = ?`,
				destinationId,
				prospectId,
				field,
				r,
				t,
				o,
				s,
				u,
			);
		}
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

	private updateErased(destinationId: string, updateId: string): boolean {
		return this.sql.exec(`SELECT 1 FROM erased_updates WHERE destination_id = ? AND update_id = ?`, destinationId, updateId).toArray().length > 0;
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
