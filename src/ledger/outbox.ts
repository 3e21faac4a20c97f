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
 *
 * Nothing lost on the way: once handed over, a row keeps `out_at` (when) and comes due again when its copy is
 * overdue — not heard of (an outcome, a re-send, a hold) for longer than the queue can keep a message with all
 * its retries. The alarm then asks the gate whether it holds the copy in bulk, and hands over again the ones it
 * does not: their message was lost on the way (a million-profile run left 15 of its 10,807 messages unheard of).
 */

/** Rows handed to the queue per send; the rest wait for the next one (the alarm comes back at once). */
const SEND_PAGE = 5_000;
/** Overdue copies looked into per alarm. */
const OVERDUE_PAGE = 1_000;

type OutboxRow = { id: string; payload: string; gen: number; due_at: number | null; attempts: number };

/**
 * Which of these updates the destination's gate holds in bulk; null when the destination has no gate to ask
 * (its copies cannot be there). Throws when the gate cannot answer now.
 */
export type HeldAtGate = (ids: string[]) => Promise<Set<string> | null>;

export class Outbox {
	constructor(
		private readonly sql: SqlStorage,
		private readonly env: Env,
		private readonly leaseMs: number,
		/** How long a copy in the queue may go unheard of before it counts as lost (copyOverdueSeconds). */
		private readonly overdueMs: number,
	) {}

	/**
	 * Sends the rows due now; answers when the next row is due (null: none), so the alarm can come back then.
	 * `overdue` (the alarm's call) also looks into copies overdue in the queue; other callers leave them to it,
	 * so an ingest request never waits on the gate.
	 */
	async send(destinationId: string, now: number, overdue?: HeldAtGate): Promise<number | null> {
		if (overdue) await this.resendOverdue(destinationId, now, overdue);
		const rows = this.sql
			.exec<OutboxRow>(
				`SELECT id, payload, gen, due_at, attempts FROM updates INDEXED BY updates_outbox WHERE send_at <= ? AND hold IS NULL AND state = 'pending'
				 AND payload IS NOT NULL AND out_at IS NULL ORDER BY send_at LIMIT ?`,
				now,
				SEND_PAGE,
			)
			.toArray();
		if (rows.length) await this.handOver(destinationId, rows, now);
		return this.nextDue();
	}

	private async handOver(destinationId: string, rows: OutboxRow[], now: number): Promise<void> {
		const claimedUntil = now + this.leaseMs;
		// The claim also writes the copy's gen and delay: the row's own, or a lost copy's next gen (resendOverdue).
		for (const r of rows) this.sql.exec(`UPDATE updates SET send_at = ?, out_at = NULL, gen = ?, due_at = ? WHERE id = ?`, claimedUntil, r.gen, r.due_at, r.id);
		const items = rows.map((r) => {
			const update = JSON.parse(r.payload) as Update;
			const delaySeconds = r.due_at === null ? 0 : Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((r.due_at - now) / 1000)));
			return { update: { ...update, gen: r.gen, attempt: update.attempt ?? 0 }, delaySeconds };
		});
		try {
			crashPoint("outbox.send");
			await enqueue(this.env, destinationId, items);
			// Handed over: a copy is in the queue. Its outcome, a re-send or a hold clears `out_at`; until then the
			// row comes due again once the copy is overdue. (A row re-claimed meanwhile keeps its newer claim.)
			const at = Date.now();
			items.forEach((item, i) =>
				this.sql.exec(
					`UPDATE updates SET send_at = ?, out_at = ? WHERE id = ? AND send_at = ?`,
					at + item.delaySeconds * 1000 + this.overdueMs,
					at,
					rows[i]!.id,
					claimedUntil,
				),
			);
		} catch (err) {
			log("error", "outbox_send_failed", { destinationId, updates: rows.length, error: err instanceof Error ? err.name : "Error" });
		}
	}

	/**
	 * Copies handed to the queue and not heard of for longer than the queue can keep a message: lost on the way.
	 * Those the gate holds in bulk are not lost (an import can outlast the queue's retries): they are looked at
	 * again an overdue period later. The others are handed over again as a new copy (the next gen), so that if
	 * the old one turns up after all, its re-sends are ignored and its outcome is only the same update's.
	 */
	private async resendOverdue(destinationId: string, now: number, heldAtGate: HeldAtGate): Promise<void> {
		const rows = this.sql
			.exec<OutboxRow & { out_at: number }>(
				`SELECT id, payload, gen, due_at, attempts, out_at FROM updates INDEXED BY updates_outbox WHERE send_at <= ? AND hold IS NULL AND state = 'pending'
				 AND payload IS NOT NULL AND out_at IS NOT NULL ORDER BY send_at LIMIT ?`,
				now,
				OVERDUE_PAGE,
			)
			.toArray();
		if (rows.length === 0) return;
		let held: Set<string> | null;
		try {
			held = await heldAtGate(rows.map((r) => r.id));
		} catch (err) {
			// The gate cannot say now: nothing is taken as lost on a guess; asked again a lease later.
			log("warn", "outbox_overdue_unchecked", { destinationId, updates: rows.length, error: err instanceof Error ? err.name : "Error" });
			for (const r of rows) this.sql.exec(`UPDATE updates SET send_at = ? WHERE id = ? AND out_at = ?`, now + this.leaseMs, r.id, r.out_at);
			return;
		}
		const atGate = rows.filter((r) => held?.has(r.id));
		const lost = rows.filter((r) => !held?.has(r.id));
		for (const r of atGate) this.sql.exec(`UPDATE updates SET send_at = ? WHERE id = ? AND out_at = ?`, now + this.overdueMs, r.id, r.out_at);
		if (lost.length === 0) return;
		log("warn", "outbox_copy_lost", {
			destinationId,
			updates: lost.length,
			updateIds: lost.slice(0, 20).map((r) => r.id),
			handedOverAt: new Date(Math.min(...lost.map((r) => r.out_at))).toISOString(),
		});
		await this.handOver(
			destinationId,
			lost.map((r) => ({ ...r, gen: r.gen + 1, due_at: null })),
			now,
		);
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
