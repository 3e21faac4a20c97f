/**
 * An Outreach user's rate budget: a sliding log of grant times in the gate's SQLite storage.
 *
 * It never lets more than `limit` calls through in any interval of `windowMs`, whatever its alignment, and
 * under a steady backlog grants the whole limit. The calls it cannot grant get a reserved slot each
 * (`budget_slots`), spread over the windows to come, so a backlog comes back a window's worth at a time. A grant is logged at the moment it is given and moved, when
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
export type BudgetOptions = {
	limit: number;
	windowMs: number;
	leaseMs: number;
	/**
	 * How far ahead a presented reservation may be granted for its slot's moment, the consumer waiting for it
	 * (0: only at its slot). One admission then serves a whole batch of calls whose slots come over the next
	 * seconds, instead of one per slot as each comes.
	 */
	aheadMs?: number;
};

/**
 * The step the consumer rounds deferral delays to, for a window of `windowSeconds` (see src/delivery/consumer.ts): the
 * calls whose slots fall in one step come back in one queue message and are granted by one admission. 30 s of
 * the real hour; never under 3 s, so that a compressed clock (tests, the benchmark) packs as many calls per
 * admission as the real one does.
 */
export function delayStepSeconds(windowSeconds: number): number {
	return Math.min(30, Math.max(3, Math.floor(windowSeconds / 100)));
}

/** How near a slot must be for its call to wait for it in the consumer rather than in the queue. */
export function slotWaitMs(windowSeconds: number): number {
	return (delayStepSeconds(windowSeconds) + 2) * 1000;
}

/** What the server last said about the budget, tied to the grant whose response said it. */
type ServerView = { grantId: number; remaining: number; resetAt: number };

export type BudgetStatus = {
	limit: number;
	windowSeconds: number;
	usedInWindow: number;
	pausedUntil: number | null;
	/** Slots reserved for deferred calls, and the last of them (null: none). */
	reserved: number;
	lastSlotAt: number | null;
};

/**
 * A call's turn: granted (from `startAt` when that is later than now: its slot, to be waited for), or a
 * reserved slot to come back at (`joined`: the slot another call of the same key waits for).
 */
export type GrantDecision = { grantId: number; startAt?: number } | { at: number; reservation: number; joined?: true };

/** A call may come back this much before its slot and still use it, when the window has room. */
const EARLY_MS = 250;

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
		this.sql.exec(`CREATE TABLE IF NOT EXISTS budget_slots (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL)`);
		this.sql.exec(`CREATE INDEX IF NOT EXISTS budget_slots_at ON budget_slots (at)`);
		// Whose call a slot was reserved for (a prospect of a destination), so a later call of it can join the slot.
		this.sql.exec(`CREATE TABLE IF NOT EXISTS budget_slot_keys (reservation INTEGER PRIMARY KEY, call_key TEXT NOT NULL)`);
		this.sql.exec(`CREATE INDEX IF NOT EXISTS budget_slot_keys_key ON budget_slot_keys (call_key)`);
	}

	private get pausedUntil(): number {
		return (this.storage.kv.get("budget.pausedUntil") as number | undefined) ?? 0;
	}

	private get server(): ServerView | undefined {
		return this.storage.kv.get("budget.server") as ServerView | undefined;
	}

	/**
	 * Grants inside the window that ends now, counting every call still in flight as inside it — and grants for
	 * moments still to come, unless `spentOnly` (what the console shows as used).
	 */
	private used(now: number, spentOnly = false): number {
		return this.sql
			.exec<{ n: number }>(
				`SELECT COUNT(*) AS n FROM budget_grants WHERE at <= ? AND (at > ? OR (settled = 0 AND at > ?))`,
				spentOnly ? now : Number.MAX_SAFE_INTEGER,
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
	 * Decides a round of calls, in order: each is granted now, or answered the slot to come back at — a slot
	 * reserved for it, so a backlog never comes back all at once (no herd). A call returning with a reservation
	 * that is due takes precedence; capacity that due reservations still wait for is kept for them; a reservation
	 * whose call does not come back lapses after its slot. Safety does not rest on reservations: grants alone
	 * never exceed `limit` in any window.
	 */
	grant(reservations: (number | undefined)[], now: number, keys: (string | undefined)[] = []): GrantDecision[] {
		this.prune(now);
		const paused = now < this.pausedUntil;
		let left = paused ? 0 : Math.max(0, Math.min(this.opts.limit - this.used(now), this.serverAllowance(now)));
		const dueBy = now + EARLY_MS;
		const presented = new Map<number, number>();
		for (const id of reservations) {
			if (id === undefined || presented.has(id)) continue;
			const row = this.sql.exec<{ at: number }>(`SELECT at FROM budget_slots WHERE id = ?`, id).toArray()[0];
			if (row) presented.set(id, row.at);
		}
		const dueTotal = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM budget_slots WHERE at <= ?`, dueBy).one().n;
		const duePresented = [...presented.values()].filter((at) => at <= dueBy).length;
		// Capacity the other due reservations are owed: their calls are on their way.
		const owed = dueTotal - duePresented;
		const out: (GrantDecision | undefined)[] = new Array(reservations.length);
		const give = (i: number, reservation?: number) => {
			if (reservation !== undefined) this.drop(reservation);
			out[i] = { grantId: this.sql.exec<{ id: number }>(`INSERT INTO budget_grants (at) VALUES (?) RETURNING id`, now).one().id };
			left--;
		};
		// First the calls whose reserved slot has come. Those the window has no room for yet (the calls before
		// them were granted later than their slots) come back as the window's oldest grants age out, in order —
		// unless the place they wait for is held by a call unanswered for over a window (only when the lease is
		// longer than the window): it may hold it until its lease ends, and every call waiting for it would come
		// back each window meanwhile, so such a call takes the next place behind the slots already reserved.
		const waiting: number[] = [];
		reservations.forEach((id, i) => {
			const at = id === undefined ? undefined : presented.get(id);
			if (at === undefined || at > dueBy) return;
			if (left > 0) give(i, id);
			else waiting.push(i);
		});
		if (waiting.length) {
			const freed = this.ageOuts(waiting.length, now);
			waiting.forEach((i, j) => {
				const id = reservations[i]!;
				const place = freed[j];
				let at: number;
				if (place?.unanswered) {
					this.sql.exec(`DELETE FROM budget_slots WHERE id = ?`, id);
					at = this.places(1, now)[0]!;
					this.sql.exec(`INSERT INTO budget_slots (id, at) VALUES (?, ?)`, id, at);
				} else {
					at = Math.max(place?.at ?? now + this.opts.windowMs, this.floor(now));
					this.sql.exec(`UPDATE budget_slots SET at = ? WHERE id = ?`, at, id);
				}
				out[i] = { at, reservation: id };
			});
		}
		// Then the calls whose slot comes within `aheadMs`: granted for that moment, when the window will have room
		// then. Such a grant is logged at its moment, so every later decision counts it where it will be.
		const aheadBy = now + (this.opts.aheadMs ?? 0);
		const ahead = reservations
			.map((id, i) => ({ i, id, at: id === undefined ? undefined : presented.get(id) }))
			.filter((x): x is { i: number; id: number; at: number } => !out[x.i] && x.at !== undefined && x.at > dueBy && x.at <= aheadBy)
			.sort((a, b) => a.at - b.at);
		if (ahead.length && !paused && this.serverAllowance(now) === Infinity) {
			const room = this.roomFrom(ahead[0]!.at, now);
			for (const x of ahead) {
				if (x.at < this.floor(now) || !room.at(x.at)) continue;
				this.drop(x.id);
				const grantId = this.sql.exec<{ id: number }>(`INSERT INTO budget_grants (at) VALUES (?) RETURNING id`, x.at).one().id;
				room.add(x.at);
				out[x.i] = { grantId, startAt: x.at };
			}
			// A grant to come counts in every window that contains now too.
			left = Math.max(0, Math.min(left, this.opts.limit - this.used(now)));
		}
		// Then the others, in order, with what the due reservations leave.
		const fresh: number[] = [];
		reservations.forEach((id, i) => {
			if (out[i]) return;
			const at = id === undefined ? undefined : presented.get(id);
			if (left - owed > 0) give(i, at === undefined ? undefined : id);
			else if (at !== undefined) out[i] = { at, reservation: id! };
			else fresh.push(i);
		});
		// A call whose key already waits for a slot not yet due joins it rather than booking another.
		const booking: number[] = [];
		for (const i of fresh) {
			const key = keys[i];
			const slot =
				key === undefined
					? undefined
					: this.sql
							.exec<{ id: number; at: number }>(
								`SELECT s.id, s.at FROM budget_slots s JOIN budget_slot_keys k ON k.reservation = s.id WHERE k.call_key = ? AND s.at > ? ORDER BY s.at LIMIT 1`,
								key,
								dueBy,
							)
							.toArray()[0];
			if (slot) out[i] = { at: slot.at, reservation: slot.id, joined: true };
			else booking.push(i);
		}
		const slots = this.reserve(booking.length, now);
		booking.forEach((i, k) => {
			out[i] = slots[k]!;
			const key = keys[i];
			if (key !== undefined) this.sql.exec(`INSERT OR REPLACE INTO budget_slot_keys (reservation, call_key) VALUES (?, ?)`, slots[k]!.reservation, key);
		});
		return out as GrantDecision[];
	}

	private drop(reservation: number): void {
		this.sql.exec(`DELETE FROM budget_slots WHERE id = ?`, reservation);
		this.sql.exec(`DELETE FROM budget_slot_keys WHERE reservation = ?`, reservation);
	}

	/**
	 * Whether one more grant at a moment to come keeps every window within the limit, for moments from `from` on;
	 * `add` counts a grant just given. A call in flight may be answered at any moment from now on, so it counts
	 * in every window; an answered one where it was answered; a grant to come from its moment on (it may be
	 * answered any time after). So the one more grant at `at` counts in every window that ends at or after `at`
	 * — a grant to come a window or more later included, since it may still be unanswered then — and the
	 * fullest of those end at `at` or at a grant to come. The log is read once per round and searched in sorted
	 * arrays: a round decides up to a hundred grants ahead, and reading the log for each of them held the gate
	 * for tens of milliseconds.
	 */
	private roomFrom(from: number, now: number): { at(at: number): boolean; add(at: number): void } {
		const { windowMs, leaseMs, limit } = this.opts;
		const answered = this.sql
			.exec<{ at: number }>(`SELECT at FROM budget_grants WHERE settled = 1 AND at > ? ORDER BY at`, from - windowMs)
			.toArray()
			.map((r) => r.at);
		const inFlight = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM budget_grants WHERE settled = 0 AND at <= ? AND at > ?`, now, now - leaseMs).one().n;
		const toCome = this.sql
			.exec<{ at: number }>(`SELECT at FROM budget_grants WHERE settled = 0 AND at > ? ORDER BY at`, now)
			.toArray()
			.map((r) => r.at);
		/** How many of the sorted `list` are at or before `t`. */
		const count = (list: number[], t: number) => {
			let lo = 0;
			let hi = list.length;
			while (lo < hi) {
				const mid = (lo + hi) >> 1;
				if (list[mid]! <= t) lo = mid + 1;
				else hi = mid;
			}
			return lo;
		};
		const answeredIn = (end: number) => count(answered, end) - count(answered, end - windowMs);
		return {
			at(at: number): boolean {
				const ends = [at, ...toCome.slice(count(toCome, at))];
				for (const end of ends) if (answeredIn(end) + inFlight + count(toCome, end) + 1 > limit) return false;
				return true;
			},
			add(at: number): void {
				toCome.splice(count(toCome, at), 0, at);
			},
		};
	}

	/**
	 * When the window's `n` oldest grants age out (a call in flight: a window after it is answered, at the earliest
	 * from now), and whether that call has been unanswered for over a window already.
	 */
	private ageOuts(n: number, now: number): { at: number; unanswered: boolean }[] {
		return this.sql
			.exec<{ t: number; unanswered: number }>(
				`SELECT CASE WHEN settled = 0 THEN MAX(at, ?) ELSE at END AS t, settled = 0 AND at <= ? AS unanswered FROM budget_grants
				 WHERE at > ? OR (settled = 0 AND at > ?) ORDER BY t LIMIT ?`,
				now,
				now - this.opts.windowMs,
				now - this.opts.windowMs,
				now - this.opts.leaseMs,
				n,
			)
			.toArray()
			.map((r) => ({ at: r.t + this.opts.windowMs + 1, unanswered: r.unanswered === 1 }));
	}

	/** Frees reservations whose calls need no grant after all (superseded, already delivered). */
	release(reservations: number[]): void {
		for (const id of reservations) this.drop(id);
	}

	/** The earliest a call may be granted, whatever the window: after a 429's pause, or the server's reset when it said 0 remain. */
	private floor(now: number): number {
		let floor = now;
		if (now < this.pausedUntil) floor = this.pausedUntil;
		const s = this.server;
		if (s && now < s.resetAt && this.serverAllowance(now) === 0) floor = Math.max(floor, s.resetAt);
		return floor;
	}

	/**
	 * Reserves `m` slots after every grant and reservation already made. The schedule is a sliding log of grants
	 * and reservations together: a new slot comes a window after the entry `limit` places before it, so each
	 * window of the future gets exactly `limit` slots, in the order the calls asked.
	 */
	private reserve(m: number, now: number): { at: number; reservation: number }[] {
		return this.places(m, now).map((at) => ({
			at,
			reservation: this.sql.exec<{ id: number }>(`INSERT INTO budget_slots (at) VALUES (?) RETURNING id`, at).one().id,
		}));
	}

	/** The next `m` places of the schedule, after every grant and reservation already made. */
	private places(m: number, now: number): number[] {
		if (m <= 0) return [];
		const { limit, windowMs, leaseMs } = this.opts;
		const reserved = this.sql
			.exec<{ at: number }>(`SELECT at FROM budget_slots ORDER BY at DESC, id DESC LIMIT ?`, limit)
			.toArray()
			.map((r) => r.at)
			.reverse();
		// A call still in flight frees its place a window after it is answered: at the earliest, from now.
		const granted =
			reserved.length >= limit
				? []
				: this.sql
						.exec<{ t: number }>(
							`SELECT CASE WHEN settled = 0 THEN MAX(at, ?) ELSE at END AS t FROM budget_grants
							 WHERE at > ? OR (settled = 0 AND at > ?) ORDER BY t DESC LIMIT ?`,
							now,
							now - windowMs,
							now - leaseMs,
							limit - reserved.length,
						)
						.toArray()
						.map((r) => r.t)
						.reverse();
		const tail = [...granted, ...reserved];
		const floor = this.floor(now);
		const out: number[] = [];
		for (let k = 0; k < m; k++) {
			// A margin per window: a call is granted a little after its slot (the queue, the consumer), and a
			// schedule computed without it would run ahead of the window more with every window of a backlog.
			const prior = tail.length >= limit ? tail[tail.length - limit]! + windowMs + this.marginMs : now;
			const at = Math.max(prior, floor, tail.at(-1) ?? now);
			tail.push(at);
			out.push(at);
		}
		return out;
	}

	/** Forgets grants that no window can count any more, and reservations whose calls never came back. */
	private prune(now: number): void {
		this.sql.exec(`DELETE FROM budget_grants WHERE at <= ? AND (settled = 1 OR at <= ?)`, now - this.opts.windowMs, now - this.opts.leaseMs);
		this.sql.exec(`DELETE FROM budget_slot_keys WHERE reservation IN (SELECT id FROM budget_slots WHERE at < ?)`, now - this.lapseMs);
		this.sql.exec(`DELETE FROM budget_slots WHERE at < ?`, now - this.lapseMs);
	}

	/** The margin added to each window of reserved slots (1 % of the window, at least 50 ms). */
	private get marginMs(): number {
		return Math.max(50, Math.round(this.opts.windowMs / 100));
	}

	/** The last moment a reservation at `at` can still be presented. */
	lapsesAt(at: number): number {
		return at + this.lapseMs;
	}

	/** How long past its slot a reservation waits for its call (queue delivery is late by seconds, not minutes). */
	private get lapseMs(): number {
		return Math.max(10_000, Math.min(600_000, this.opts.windowMs / 4));
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

	/**
	 * Records what a response's X-RateLimit-* headers said; the newest grant's answer wins. When the server
	 * leaves at least what the gate's own log does, nobody else is spending this user's budget and the log —
	 * exact to the millisecond — is the better guide: the server's reset comes in whole seconds, and waiting
	 * for it would start every window of a backlog up to a second late. (Another integration's spending hidden
	 * by our calls still in flight shows as a 429, which pauses the gate until the reset.)
	 */
	observe(grantId: number, remaining: number, resetAt: number, now: number): void {
		const cur = this.server;
		if (cur && cur.grantId > grantId && cur.resetAt >= resetAt) return;
		if (remaining >= this.opts.limit - this.used(now)) this.storage.kv.delete("budget.server");
		else this.storage.kv.put("budget.server", { grantId, remaining, resetAt } satisfies ServerView);
	}

	/** A 429: no grants until `until`. */
	pause(until: number): void {
		if (until > this.pausedUntil) this.storage.kv.put("budget.pausedUntil", until);
	}

	status(now: number): BudgetStatus {
		const pausedUntil = this.pausedUntil;
		const slots = this.sql.exec<{ n: number; last: number | null }>(`SELECT COUNT(*) AS n, MAX(at) AS last FROM budget_slots WHERE at >= ?`, now - this.lapseMs).one();
		return {
			limit: this.opts.limit,
			windowSeconds: this.opts.windowMs / 1000,
			usedInWindow: this.used(now, true),
			pausedUntil: pausedUntil > now ? pausedUntil : null,
			reserved: slots.n,
			lastSlotAt: slots.last,
		};
	}
}

/**
 * When `pending` calls will have been made at this budget's pace: what the window still allows goes now, the
 * rest at `limit` per window (after a pause, from its end), and never before the last slot already reserved.
 * Counted in updates, so conservative: updates of one prospect that meet become one call. Null when none waits.
 */
export function backlogEta(status: BudgetStatus, pending: number, now: number): number | null {
	if (pending <= 0) return null;
	const start = Math.max(now, status.pausedUntil ?? 0);
	const room = status.pausedUntil ? 0 : Math.max(0, status.limit - status.usedInWindow);
	const paced = start + (Math.max(0, pending - room) / status.limit) * status.windowSeconds * 1000;
	return Math.round(Math.max(paced, status.lastSlotAt ?? 0));
}
