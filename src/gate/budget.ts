/**
 * An Outreach user's rate budget: a sliding log of grant times in the gate's SQLite storage.
 *
 * It never lets more than `limit` calls through in any interval of `windowMs`, whatever its alignment, and
 * under a steady backlog grants the whole limit. A grant is logged at the moment it is given and moved, when
 * its call is settled, to the moment Outreach answered — the latest instant Outreach can have counted it — so
 * network latency can never push two windows' worth of calls into one of Outreach's fixed windows.
 * It obeys the server too: `X-RateLimit-Remaining` lowers it and a 429 pauses it until the reset, since
 * another integration may be spending the same user's budget. Time is always passed in (`now`), so tests
 * drive it with any clock.
 */

/**
 * `leaseMs`: how long a granted call may stay unanswered (GRANT_LEASE_SECONDS). An unsettled grant counts
 * against the budget until settled or this long after it was given, whatever the window's length; the gate
 * locks the call's fields for as long (src/gate/versions.ts).
 */
export type BudgetOptions = { limit: number; windowMs: number; leaseMs: number };

/** What the server last said about the budget, tied to the grant whose response said it. */
type ServerView = { grantId: number; remaining: number; resetAt: number };

export type BudgetStatus = { limit: number; windowSeconds: number; usedInWindow: number; pausedUntil: number | null };

const MAX_DELAY_MS = 12 * 3600_000;

export class Budget {
	private readonly sql: SqlStorage;

	constructor(
		private readonly storage: DurableObjectStorage,
		private readonly opts: BudgetOptions,
	) {
		this.sql = storage.sql;
		this.sql.exec(
			`CREATE TABLE IF NOT EXISTS budget_grants (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, settled INTEGER NOT NULL DEFAULT 0)`,
		);
		this.sql.exec(`CREATE INDEX IF NOT EXISTS budget_grants_at ON budget_grants (at)`);
	}

	private get pausedUntil(): number {
		return (this.storage.kv.get("budget.pausedUntil") as number | undefined) ?? 0;
	}

	private get server(): ServerView | undefined {
		return this.storage.kv.get("budget.server") as ServerView | undefined;
	}

	/** Grants inside the window that ends now, counting every call still in flight as inside it. */
	private used(now: number): number {
		return this.sql
			.exec<{ n: number }>(
				`SELECT COUNT(*) AS n FROM budget_grants WHERE at > ? OR (settled = 0 AND at > ?)`,
				now - this.opts.windowMs,
				now - this.opts.leaseMs,
			)
			.one().n;
	}

	/** Calls the server still allows before its reset, after the grants given since it said so. */
	private serverAllowance(now: number): number {
		const s = this.server;
		if (!s || now >= s.resetAt) return Infinity;
		const since = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM budget_grants WHERE id > ?`, s.grantId).one().n;
		return Math.max(0, s.remaining - since);
	}

	/**
	 * Grants up to `n` calls now. Returns the grant ids (settle them with the time Outreach answered) and, for
	 * each call not granted, the time to come back (its slot), in order.
	 */
	grant(n: number, now: number): { granted: number[]; slots: number[] } {
		this.sql.exec(
			`DELETE FROM budget_grants WHERE at <= ? AND (settled = 1 OR at <= ?)`,
			now - this.opts.windowMs,
			now - this.opts.leaseMs,
		);
		const paused = now < this.pausedUntil;
		const used = this.used(now);
		const available = paused ? 0 : Math.max(0, Math.min(this.opts.limit - used, this.serverAllowance(now)));
		const k = Math.min(n, available);
		const granted: number[] = [];
		for (let i = 0; i < k; i++) {
			granted.push(this.sql.exec<{ id: number }>(`INSERT INTO budget_grants (at) VALUES (?) RETURNING id`, now).one().id);
		}
		return { granted, slots: this.slots(n - k, now) };
	}

	/** When each of `m` more calls could be granted: as the oldest grants in the window age out. */
	private slots(m: number, now: number): number[] {
		if (m <= 0) return [];
		const { limit, windowMs } = this.opts;
		// A call still in flight frees its slot a window after it is answered: at the earliest, from now.
		const times = this.sql
			.exec<{ t: number }>(
				`SELECT CASE WHEN settled = 0 THEN MAX(at, ?) ELSE at END AS t FROM budget_grants
				 WHERE at > ? OR (settled = 0 AND at > ?) ORDER BY t LIMIT ?`,
				now,
				now - windowMs,
				now - this.opts.leaseMs,
				Math.min(m, limit),
			)
			.toArray()
			.map((r) => r.t);
		const used = this.used(now);
		let floor = now;
		if (now < this.pausedUntil) floor = this.pausedUntil;
		const s = this.server;
		if (s && now < s.resetAt && this.serverAllowance(now) === 0) floor = Math.max(floor, s.resetAt);
		const out: number[] = [];
		for (let j = 1; j <= m; j++) {
			// The j-th waiting call fits once (used + j - limit) of the current grants have aged out.
			const idx = used + j - limit;
			let at: number;
			if (idx <= 0) at = now;
			else if (idx <= times.length) at = times[idx - 1]! + windowMs;
			else at = (out[j - 1 - limit] ?? now) + windowMs; // beyond one window: after calls still to come age out
			out.push(Math.min(Math.max(at, floor), now + MAX_DELAY_MS));
		}
		return out;
	}

	/** Logs a call already made outside the budget (e.g. `users/me` while connecting, before the gate was known). */
	record(at: number): void {
		this.sql.exec(`INSERT INTO budget_grants (at, settled) VALUES (?, 1)`, at);
	}

	/** Takes back grants whose calls were never sent (their lease was too short to send them safely). */
	cancel(ids: number[]): void {
		for (const id of ids) this.sql.exec(`DELETE FROM budget_grants WHERE id = ? AND settled = 0`, id);
	}

	/** Moves grants to the time Outreach answered them (never earlier than they were given). */
	settle(grants: { id: number; at: number }[]): void {
		for (const g of grants) this.sql.exec(`UPDATE budget_grants SET at = MAX(at, ?), settled = 1 WHERE id = ?`, g.at, g.id);
	}

	/** Records what a response's X-RateLimit-* headers said; the newest grant's answer wins. */
	observe(grantId: number, remaining: number, resetAt: number): void {
		const cur = this.server;
		if (cur && cur.grantId > grantId && cur.resetAt >= resetAt) return;
		this.storage.kv.put("budget.server", { grantId, remaining, resetAt } satisfies ServerView);
	}

	/** A 429: no grants until `until`. */
	pause(until: number): void {
		if (until > this.pausedUntil) this.storage.kv.put("budget.pausedUntil", until);
	}

	status(now: number): BudgetStatus {
		const pausedUntil = this.pausedUntil;
		return {
			limit: this.opts.limit,
			windowSeconds: this.opts.windowMs / 1000,
			usedInWindow: this.used(now),
			pausedUntil: pausedUntil > now ? pausedUntil : null,
		};
	}
}
