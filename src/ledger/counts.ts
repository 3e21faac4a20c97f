import type { SegmentRef } from "../updates/update";

/**
 * The ledger's counters: per destination in total, per segment and per hour. Every profile received ends as
 * exactly one of rejected, skipped or accepted; every accepted update is exactly one of pending, delivered,
 * failed or superseded, so received = rejected + skipped + pending + delivered + failed + superseded always
 * holds. `held` is the part of `pending` held while the destination is paused or waits for a reconnect.
 */

export const COUNTS = ["received", "rejected", "skipped", "pending", "delivered", "failed", "superseded", "held"] as const;
export type CountName = (typeof COUNTS)[number];
export type Counts = Record<CountName, number>;

export function zeroCounts(): Counts {
	return { received: 0, rejected: 0, skipped: 0, pending: 0, delivered: 0, failed: 0, superseded: 0, held: 0 };
}

/** Updates pending and not held back: the backlog the ledger adds to its Outreach user's, from the counts alone. */
export function waitingOf(c: Counts): number {
	return Math.max(0, c.pending - c.held);
}

export const HOUR = 3600_000;

export const hourOf = (at: number) => Math.floor(at / HOUR) * HOUR;

/**
 * Count changes gathered during one call and written once per counter when the call ends (before it awaits
 * anything, so they commit with the row changes): a batch of 1,000 outcomes then touches a few dozen counter
 * rows instead of several thousand, which keeps the ledger quick to answer the ingest requests waiting on it.
 */
export class Tally {
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

	/** Moves one update from one count to another. */
	move(from: CountName, to: CountName, hour: number, segments: SegmentRef[]): void {
		this.add(from, -1, hour, segments);
		this.add(to, 1, hour, segments);
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
