/**
 * A destination's versions moving between gates: when it reconnects as another Outreach user, or when an
 * upgrade finds its grant in a gate named the old way (by id and email). The receiving gate copies the
 * versions page by page (resumable: the cursor is stored), waits until no call of the old gate can still
 * be in flight, then tells the old gate to let go; from then on the old gate refuses the destination's calls
 * (`moved_away`). Until the copy is complete the destination's calls wait.
 */

export type MoveRow = { destination_id: string; from_gate: string; cursor: string | null; started_at: number };

export class Moves {
	private readonly sql: SqlStorage;

	constructor(storage: DurableObjectStorage) {
		this.sql = storage.sql;
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS moves (destination_id TEXT PRIMARY KEY, from_gate TEXT NOT NULL, cursor TEXT, started_at INTEGER NOT NULL);
			CREATE TABLE IF NOT EXISTS moved_away (destination_id TEXT PRIMARY KEY, to_gate TEXT NOT NULL, at INTEGER NOT NULL);
		`);
	}

	/** Starts (or restarts) moving a destination's versions here from `fromGate`; it came back here, so it is no longer away. */
	begin(destinationId: string, fromGate: string, now: number): void {
		this.sql.exec(
			`INSERT INTO moves (destination_id, from_gate, cursor, started_at) VALUES (?, ?, NULL, ?)
			 ON CONFLICT (destination_id) DO UPDATE SET from_gate = excluded.from_gate, cursor = NULL, started_at = excluded.started_at`,
			destinationId,
			fromGate,
			now,
		);
		this.arrived(destinationId);
	}

	pending(destinationId: string): MoveRow | null {
		return this.sql.exec<MoveRow>(`SELECT * FROM moves WHERE destination_id = ?`, destinationId).toArray()[0] ?? null;
	}

	all(): MoveRow[] {
		return this.sql.exec<MoveRow>(`SELECT * FROM moves`).toArray();
	}

	saveCursor(destinationId: string, cursor: string): void {
		this.sql.exec(`UPDATE moves SET cursor = ? WHERE destination_id = ?`, cursor, destinationId);
	}

	finish(destinationId: string): void {
		this.sql.exec(`DELETE FROM moves WHERE destination_id = ?`, destinationId);
	}

	/** The gate a destination moved to, when it left this one. */
	awayTo(destinationId: string): string | null {
		return this.sql.exec<{ to_gate: string }>(`SELECT to_gate FROM moved_away WHERE destination_id = ?`, destinationId).toArray()[0]?.to_gate ?? null;
	}

	left(destinationId: string, toGate: string, now: number): void {
		this.sql.exec(
			`INSERT INTO moved_away (destination_id, to_gate, at) VALUES (?, ?, ?)
			 ON CONFLICT (destination_id) DO UPDATE SET to_gate = excluded.to_gate, at = excluded.at`,
			destinationId,
			toGate,
			now,
		);
	}

	arrived(destinationId: string): void {
		this.sql.exec(`DELETE FROM moved_away WHERE destination_id = ?`, destinationId);
	}
}
