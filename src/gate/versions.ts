import { CALL_LEASE_MS } from "./budget";
import { compareVersions, type Version } from "../updates";

/**
 * Each prospect field's applied version, in the gate's SQLite storage. Checked and advanced in the same
 * synchronous step that grants the call, so concurrent consumers never write an older value over a newer
 * one. A field is *in flight* from its grant until its call is settled: no second call may write it
 * meanwhile, because two PATCHes in flight may reach Outreach in either order.
 */

export type FieldCheck =
	/** These fields may be written now. */
	| { kind: "fresh"; fields: string[] }
	/** Every field is already at a newer version: superseded. */
	| { kind: "stale" }
	/** This very version already reached Outreach (a duplicate or a retried batch): delivered. */
	| { kind: "done" }
	/** A field is being written by another call; come back at `until`. */
	| { kind: "busy"; until: number };

type Row = { field: string; q: number; o: number; s: number; confirmed: number; inflight_until: number };


export class FieldVersions {
	private readonly sql: SqlStorage;

	constructor(storage: DurableObjectStorage) {
		this.sql = storage.sql;
		this.sql.exec(`CREATE TABLE IF NOT EXISTS field_versions (
			prospect_id INTEGER NOT NULL, field TEXT NOT NULL, q INTEGER NOT NULL, o INTEGER NOT NULL, s INTEGER NOT NULL,
			confirmed INTEGER NOT NULL DEFAULT 0, inflight_until INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (prospect_id, field))`);
	}

	private rows(prospectId: number): Map<string, Row> {
		const rows = this.sql.exec<Row>(`SELECT * FROM field_versions WHERE prospect_id = ?`, prospectId).toArray();
		return new Map(rows.map((r) => [r.field, r]));
	}

	/**
	 * Which of `fields` are newer than what was applied. The same version again is fresh only while it is
	 * unconfirmed: a retry after a failed call must go through, a duplicate of a delivered one need not.
	 */
	check(prospectId: number, fields: Record<string, Version>, now: number): FieldCheck {
		const applied = this.rows(prospectId);
		const fresh: string[] = [];
		let busyUntil = 0;
		let landed = false;
		for (const [field, v] of Object.entries(fields)) {
			const row = applied.get(field);
			const cmp = row ? compareVersions(v, [row.q, row.o, row.s]) : 1;
			if (cmp === 0 && row!.confirmed) landed = true;
			if (cmp < 0 || (cmp === 0 && row!.confirmed)) continue;
			if (row && row.inflight_until > now) busyUntil = Math.max(busyUntil, row.inflight_until);
			fresh.push(field);
		}
		if (busyUntil > 0) return { kind: "busy", until: busyUntil };
		if (fresh.length) return { kind: "fresh", fields: fresh };
		return landed ? { kind: "done" } : { kind: "stale" };
	}

	/** Advances the granted fields' versions and locks them until settled (at most CALL_LEASE_MS). */
	advance(prospectId: number, fields: Record<string, Version>, names: string[], now: number): void {
		for (const field of names) {
			const [q, o, s] = fields[field]!;
			this.sql.exec(
				`INSERT INTO field_versions (prospect_id, field, q, o, s, confirmed, inflight_until) VALUES (?, ?, ?, ?, ?, 0, ?)
				 ON CONFLICT (prospect_id, field) DO UPDATE SET q = excluded.q, o = excluded.o, s = excluded.s,
				   confirmed = 0, inflight_until = excluded.inflight_until`,
				prospectId,
				field,
				q,
				o,
				s,
				now + CALL_LEASE_MS,
			);
		}
	}

	/** Unlocks a settled call's fields; marks the delivered ones confirmed at their version. */
	settle(prospectId: number, fields: Record<string, Version>, delivered: boolean): void {
		for (const [field, [q, o, s]] of Object.entries(fields)) {
			this.sql.exec(
				`UPDATE field_versions SET inflight_until = 0, confirmed = CASE WHEN ? THEN 1 ELSE confirmed END
				 WHERE prospect_id = ? AND field = ? AND q = ? AND o = ? AND s = ?`,
				delivered ? 1 : 0,
				prospectId,
				field,
				q,
				o,
				s,
			);
		}
	}
}
