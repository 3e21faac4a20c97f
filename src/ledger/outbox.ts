import { crashPoint } from "../platform/crashpoints";
import { log } from "../platform/log";
import { enqueue, MAX_DELAY_SECONDS } from "../delivery/message";
import type { Update } from "../updates/update";

/**
 * The ledger as the outbox of the queue (design: "The ledger's receipt is the commit point"). An update is
 * handed to the queue only from here: at ingest, on a re-send (a deferral, a retry, a replay) and on release
 * after a hold. A row due to be sent has `send_at`; sending claims it for OUTBOX_LEASE_MS first, so the alarm
 * re-sends whatever a send that died (the request, the isolate) did not hand over, and two senders never race.
 * Every hand-over bumps the row's `gen`, and a copy carries the gen it was sent with: the ledger re-sends
 * only from its current copy, so copies never multiply.
 */

/** Rows handed to the queue per send; the rest wait for the next one (the alarm comes back at once). */
const SEND_PAGE = 5_000;

type OutboxRow = { id: string; payload: string; gen: number; due_at: number | null; attempts: number };

export class Outbox {
	constructor(
		private readonly sql: SqlStorage,
		private readonly env: Env,
		private readonly leaseMs: number,
	) {}

	/** Sends the rows due now; answers when the next row is due (null: none), so the alarm can come back then. */
	async send(destinationId: string, now: number): Promise<number | null> {
		const rows = this.sql
			.exec<OutboxRow>(
				`SELECT id, payload, gen, due_at, attempts FROM updates INDEXED BY updates_outbox WHERE send_at <= ? AND hold IS NULL AND state = 'pending'
				 AND payload IS NOT NULL ORDER BY send_at LIMIT ?`,
				now,
				SEND_PAGE,
			)
			.toArray();
		if (rows.length) {
			const claimedUntil = now + this.leaseMs;
			for (const r of rows) this.sql.exec(`UPDATE updates SET send_at = ? WHERE id = ?`, claimedUntil, r.id);
			const items = rows.map((r) => {
				const update = JSON.parse(r.payload) as Update;
				const delaySeconds = r.due_at === null ? 0 : Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((r.due_at - now) / 1000)));
				return { update: { ...update, gen: r.gen, attempt: update.attempt ?? 0 }, delaySeconds };
			});
			try {
				crashPoint("outbox.send");
				await enqueue(this.env, destinationId, items);
				// Handed over: a copy is in the queue. (A row re-claimed meanwhile keeps its newer claim.)
				for (const r of rows) this.sql.exec(`UPDATE updates SET send_at = NULL WHERE id = ? AND send_at = ?`, r.id, claimedUntil);
			} catch (err) {
				log("error", "outbox_send_failed", { destinationId, updates: rows.length, error: err instanceof Error ? err.name : "Error" });
			}
		}
		return this.nextDue();
	}

	nextDue(): number | null {
		return this.sql
			.exec<{ at: number | null }>(`SELECT MIN(send_at) AS at FROM updates INDEXED BY updates_outbox WHERE send_at IS NOT NULL AND hold IS NULL AND state = 'pending'`)
			.one().at;
	}
}

/** When a row due at `dueAt` should be handed to the queue: at once, unless it is further off than the queue's 12-hour limit. */
export function sendAtFor(dueAt: number | null, now: number): number {
	if (dueAt === null) return now;
	return Math.max(now, dueAt - MAX_DELAY_SECONDS * 1000);
}
