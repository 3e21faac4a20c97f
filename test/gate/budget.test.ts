import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maxInAnyWindow as maxInWindow } from "../../scripts/bench/stats";
import { Budget } from "../../src/gate/budget";

/** Runs `fn` with a fresh Budget on a real gate's SQLite storage (the budget's tables emptied first). */
async function withBudget<T>(opts: { limit: number; windowMs: number; aheadMs?: number }, fn: (budget: () => Budget) => T): Promise<T> {
	const stub = env.GATE.getByName(`budget-test-${crypto.randomUUID()}`);
	return runInDurableObject(stub, (_instance, state) =>
		fn(() => {
			state.storage.sql.exec(`DROP TABLE IF EXISTS budget_grants`);
			state.storage.sql.exec(`DROP TABLE IF EXISTS budget_slots`);
			state.storage.sql.exec(`DROP TABLE IF EXISTS budget_slot_keys`);
			state.storage.kv.delete("budget.pausedUntil");
			state.storage.kv.delete("budget.server");
			return new Budget(state.storage, { leaseMs: 90_000, ...opts });
		}),
	);
}

/**
 * One round of `n` calls that hold no reservation, as a caller that will not come back for its slots sees it:
 * the grants, and each other call's slot (its reservation released again).
 */
function round(budget: Budget, n: number, now: number): { granted: number[]; slots: number[] } {
	const granted: number[] = [];
	const slots: number[] = [];
	const reservations: number[] = [];
	for (const d of budget.grant(Array.from({ length: n }, () => undefined), now)) {
		if ("grantId" in d) granted.push(d.grantId);
		else {
			slots.push(d.at);
			reservations.push(d.reservation);
		}
	}
	budget.release(reservations);
	return { granted, slots };
}

describe("the budget (a sliding log of grants)", () => {
	it("never lets more than the limit through in any interval of the window, whatever the schedule and latency", async () => {
		const schedule = fc.record({
			limit: fc.integer({ min: 1, max: 40 }),
			windowMs: fc.integer({ min: 200, max: 5000 }),
			events: fc.array(
				fc.record({
					gapMs: fc.integer({ min: 0, max: 3000 }),
					calls: fc.integer({ min: 1, max: 60 }),
					// how long each granted call takes to be answered: up to 6 s, longer than many of the windows
					latency: fc.double({ min: 0, max: 1, noNaN: true }),
					arrival: fc.double({ min: 0, max: 1, noNaN: true }),
				}),
				{ minLength: 1, maxLength: 60 },
			),
		});
		await fc.assert(
				fc.asyncProperty(schedule, async ({ limit, windowMs, events }) => {
					await withBudget({ limit, windowMs }, (fresh) => {
						const budget = fresh();
						let now = 1_000_000;
						const grantedAt: number[] = [];
						const arrivals: number[] = [];
						let inFlight: { id: number; answeredAt: number }[] = [];
						for (const e of events) {
							now += e.gapMs;
							budget.settle(inFlight.filter((f) => f.answeredAt <= now).map((f) => ({ id: f.id, at: f.answeredAt })));
							inFlight = inFlight.filter((f) => f.answeredAt > now);
							const { granted, slots } = round(budget, e.calls, now);
							expect(granted.length + slots.length).toBe(e.calls);
							for (const s of slots) expect(s).toBeGreaterThanOrEqual(now);
							for (const id of granted) {
								const answeredAt = now + Math.round(e.latency * 6000);
								grantedAt.push(now);
								// Outreach counts the call somewhere between sending and answering.
								arrivals.push(now + Math.round(e.arrival * (answeredAt - now)));
								inFlight.push({ id, answeredAt });
							}
						}
						expect(maxInWindow(grantedAt, windowMs)).toBeLessThanOrEqual(limit);
						expect(maxInWindow(arrivals, windowMs)).toBeLessThanOrEqual(limit);
					});
				}),
				{ numRuns: 150 },
			);
	});

	it("grants reserved slots ahead for their moment, and still never more than the limit in any interval", { timeout: 120_000 }, async () => {
		const schedule = fc.record({
			limit: fc.integer({ min: 1, max: 30 }),
			windowMs: fc.integer({ min: 200, max: 5000 }),
			aheadMs: fc.integer({ min: 0, max: 3000 }),
			events: fc.array(
				fc.record({
					gapMs: fc.integer({ min: 0, max: 2000 }),
					calls: fc.integer({ min: 0, max: 20 }),
					latency: fc.double({ min: 0, max: 1, noNaN: true }),
					arrival: fc.double({ min: 0, max: 1, noNaN: true }),
				}),
				{ minLength: 1, maxLength: 40 },
			),
		});
		let grantedAhead = 0;
		await fc.assert(
			fc.asyncProperty(schedule, async ({ limit, windowMs, aheadMs, events }) => {
				grantedAhead += await withBudget({ limit, windowMs, aheadMs }, (fresh) => {
					const budget = fresh();
					let now = 1_000_000;
					let ahead = 0;
					const arrivals: number[] = [];
					let inFlight: { id: number; answeredAt: number }[] = [];
					let waiting: { reservation: number; at: number }[] = [];
					const step = (e: { calls: number; latency: number; arrival: number }) => {
						budget.settle(inFlight.filter((f) => f.answeredAt <= now).map((f) => ({ id: f.id, at: f.answeredAt })));
						inFlight = inFlight.filter((f) => f.answeredAt > now);
						// Deferred calls come back up to aheadMs before their slot (the consumer waits for it), and new ones arrive.
						const back = waiting.filter((w) => w.at <= now + aheadMs);
						waiting = waiting.filter((w) => w.at > now + aheadMs);
						const presented = [...back.map((w) => w.reservation), ...Array.from({ length: e.calls }, () => undefined)];
						for (const d of budget.grant(presented, now)) {
							if ("grantId" in d) {
								const start = d.startAt ?? now;
								expect(start).toBeGreaterThanOrEqual(now);
								expect(start).toBeLessThanOrEqual(now + aheadMs);
								if (d.startAt !== undefined) ahead++;
								const answeredAt = start + Math.round(e.latency * 3000);
								arrivals.push(start + Math.round(e.arrival * (answeredAt - start)));
								inFlight.push({ id: d.grantId, answeredAt });
							} else waiting.push({ reservation: d.reservation, at: d.at });
						}
						// What the console shows as used: grants for moments still to come are not spent yet.
						expect(budget.status(now).usedInWindow).toBeLessThanOrEqual(limit);
					};
					for (const e of events) {
						now += e.gapMs;
						step(e);
					}
					// The backlog drains: time moves on until every deferred call was granted, each coming back a
					// bounded number of times (it takes under 20 rounds a call; a budget that sends every waiting call
					// back each window takes hundreds, and without the bound ran for minutes before failing).
					const bound = 50 * waiting.length;
					let rounds = 0;
					for (; waiting.length && rounds < bound; rounds++) {
						// Presented ahead when the earliest slot is still beyond reach, else at it (as the consumer does).
						const first = Math.min(...waiting.map((w) => w.at));
						now = first > now + aheadMs ? first - aheadMs : Math.max(now + 50, first);
						step({ calls: 0, latency: 0.5, arrival: 0.5 });
					}
					expect(waiting, `${waiting.length} calls still waiting after ${rounds} rounds (limit ${limit}, window ${windowMs} ms, ahead ${aheadMs} ms)`).toEqual([]);
					expect(maxInWindow(arrivals, windowMs)).toBeLessThanOrEqual(limit);
					return ahead;
				});
			}),
			{ numRuns: 80 },
		);
		// The property held with grants ahead among them, not only without.
		expect(grantedAhead).toBeGreaterThan(0);
	});

	it("does not grant a slot ahead beside a grant still to come a window or more after it: unanswered, the earlier call counts there too", async () => {
		await withBudget({ limit: 1, windowMs: 1000, aheadMs: 3000 }, (fresh) => {
			const budget = fresh();
			const first = budget.grant([undefined, undefined, undefined], 0);
			const [granted, early, late] = first as [{ grantId: number }, { at: number; reservation: number }, { at: number; reservation: number }];
			budget.settle([{ id: granted.grantId, at: 0 }]);
			expect([early.at, late.at]).toEqual([1050, 2100]);
			// The later slot is presented first and granted for its moment.
			expect(budget.grant([late.reservation], 100)).toEqual([{ grantId: expect.any(Number), startAt: 2100 }]);
			// A call sent at 1050 may still be unanswered at 2100, when Outreach may count both in one window.
			const [decision] = budget.grant([early.reservation], 200);
			expect(decision).not.toHaveProperty("grantId");
		});
	});

	it("drains a backlog in rounds linear in its size when calls stay unanswered longer than the window, not a round for every waiting call each window", async () => {
		const [limit, windowMs, latencyMs, calls] = [1, 200, 1500, 40];
		await withBudget({ limit, windowMs }, (fresh) => {
			const budget = fresh();
			let now = 0;
			let inFlight: { id: number; answeredAt: number }[] = [];
			let waiting: { reservation: number; at: number }[] = [];
			let rounds = 0;
			const present = (reservations: (number | undefined)[]) => {
				budget.settle(inFlight.filter((f) => f.answeredAt <= now).map((f) => ({ id: f.id, at: f.answeredAt })));
				inFlight = inFlight.filter((f) => f.answeredAt > now);
				for (const d of budget.grant(reservations, now)) {
					if ("grantId" in d) inFlight.push({ id: d.grantId, answeredAt: now + latencyMs });
					else waiting.push({ reservation: d.reservation, at: d.at });
				}
			};
			present(Array.from({ length: calls }, () => undefined));
			// Each grant holds the only place for the call's latency and a window after: a call waiting behind k
			// others needs k such turns, and should not come back every window of them.
			const bound = calls * Math.ceil((latencyMs + windowMs) / windowMs);
			for (; waiting.length && rounds < bound; rounds++) {
				now = Math.max(now + 1, Math.min(...waiting.map((w) => w.at)));
				const due = waiting.filter((w) => w.at <= now);
				waiting = waiting.filter((w) => w.at > now);
				present(due.map((w) => w.reservation));
			}
			expect({ waiting: waiting.length, rounds }).toEqual({ waiting: 0, rounds: expect.any(Number) });
		});
	});

	it("grants the whole limit in every window of a steady backlog, each window a margin after the last", async () => {
		const params = fc.record({
			limit: fc.integer({ min: 1, max: 50 }),
			windowMs: fc.integer({ min: 100, max: 10_000 }),
			windows: fc.integer({ min: 1, max: 6 }),
			// A backlog: at least a window's worth waiting at any moment.
			extra: fc.integer({ min: 0, max: 150 }),
		});
		await fc.assert(
			fc.asyncProperty(params, async ({ limit, windowMs, windows, extra }) => {
				const backlog = limit + extra;
				await withBudget({ limit, windowMs }, (fresh) => {
					const budget = fresh();
					const start = 5_000_000;
					const end = start + windows * windowMs;
					let now = start;
					let granted = 0;
					// A consumer that always has `backlog` calls waiting: each comes back at its reserved slot.
					let waiting: { at: number; reservation?: number }[] = Array.from({ length: backlog }, () => ({ at: start }));
					// A round or two a window suffice (the window's burst, the backlog's slots); a bound so a budget that
					// hands back slots barely later than now fails with the parameters instead of spinning.
					const bound = 10 * (windows + 1);
					let rounds = 0;
					for (; now < end && rounds < bound; rounds++) {
						const due = waiting.filter((w) => w.at <= now);
						waiting = waiting.filter((w) => w.at > now);
						const decisions = budget.grant(
							due.map((w) => w.reservation),
							now,
						);
						for (const d of decisions) {
							if ("grantId" in d) {
								granted++;
								budget.settle([{ id: d.grantId, at: now }]);
								waiting.push({ at: now }); // a new call takes its place: the backlog stays
							} else waiting.push({ at: d.at, reservation: d.reservation });
						}
						now = Math.max(now + 1, Math.min(...waiting.map((w) => w.at)));
					}
					expect(now, `still at ${now - start} ms of ${end - start} after ${rounds} rounds (limit ${limit}, window ${windowMs} ms, backlog ${backlog})`).toBeGreaterThanOrEqual(end);
					// A window's worth every window — plus the schedule's margin of 1 % of a window (at least 50 ms),
					// so bursts start at k × (window + margin): as many as fit in the time given.
					const margin = Math.max(50, Math.round(windowMs / 100));
					expect(granted).toBe(Math.ceil((windows * windowMs) / (windowMs + margin)) * limit);
				});
			}),
			{ numRuns: 100 },
		);
	});

	it("hands back, for each call it cannot grant, the moment a slot frees", async () => {
		await withBudget({ limit: 3, windowMs: 1000 }, (fresh) => {
			const budget = fresh();
			const first = round(budget, 2, 0).granted;
			budget.settle(first.map((id) => ({ id, at: 0 })));
			const second = round(budget, 1, 400).granted;
			budget.settle(second.map((id) => ({ id, at: 400 })));
			expect([first.length, second.length]).toEqual([2, 1]);
			const { granted, slots } = round(budget, 4, 500);
			expect(granted).toHaveLength(0);
			// Two grants at 0 free at 1000, the one at 400 at 1400, and the fourth waits for the first to age out
			// again — each a window plus the schedule's margin (50 ms) after the place before it.
			expect(slots).toEqual([1050, 1050, 1450, 2100]);
		});
	});

	it("obeys X-RateLimit-Remaining: another integration's spending lowers what it grants", async () => {
		await withBudget({ limit: 100, windowMs: 10_000 }, (fresh) => {
			const budget = fresh();
			const first = round(budget, 1, 0).granted[0]!;
			budget.observe(first, 5, 8_000, 50);
			const { granted, slots } = round(budget, 10, 100);
			expect(granted).toHaveLength(5);
			expect(slots.every((s) => s >= 8_000)).toBe(true);
			// After the server's reset its word no longer applies.
			expect(round(budget, 10, 8_000).granted).toHaveLength(10);
		});
	});

	it("follows its own log, not the server's whole-second reset, when nobody else spends the budget", async () => {
		await withBudget({ limit: 3, windowMs: 1000 }, (fresh) => {
			const budget = fresh();
			const first = round(budget, 3, 0).granted;
			budget.settle(first.map((id) => ({ id, at: 0 })));
			// Outreach says 0 remain until a reset it rounds up to the next whole second: 1.9 s after the window began.
			budget.observe(first[2]!, 0, 1_900, 10);
			expect(round(budget, 3, 1_001).granted).toHaveLength(3);
		});
	});

	it("pauses until the reset a 429 gave, then grants again", async () => {
		await withBudget({ limit: 100, windowMs: 10_000 }, (fresh) => {
			const budget = fresh();
			budget.pause(3_000);
			const paused = round(budget, 2, 1_000);
			expect(paused.granted).toHaveLength(0);
			expect(paused.slots).toEqual([3_000, 3_000]);
			expect(budget.status(1_000).pausedUntil).toBe(3_000);
			expect(round(budget, 2, 3_000).granted).toHaveLength(2);
		});
	});

	it("counts a call still in flight against the window however long it takes to be answered", async () => {
		await withBudget({ limit: 2, windowMs: 1000 }, (fresh) => {
			const budget = fresh();
			const [a, b] = round(budget, 2, 0).granted;
			// Two windows later both calls are still unanswered: they may reach Outreach any moment, so no new grant.
			expect(round(budget, 1, 2500).granted).toHaveLength(0);
			budget.settle([{ id: a!, at: 2600 }]);
			expect(round(budget, 1, 2700).granted).toHaveLength(0);
			expect(round(budget, 1, 3601).granted).toHaveLength(1);
			void b;
		});
	});

	it("survives a new instance: grants are persisted, not kept in memory", async () => {
		const stub = env.GATE.getByName("budget-persist");
		await runInDurableObject(stub, (_i, state) => {
			const b = new Budget(state.storage, { limit: 2, windowMs: 60_000, leaseMs: 90_000 });
			expect(round(b, 2, Date.now()).granted).toHaveLength(2);
		});
		await runInDurableObject(stub, (_i, state) => {
			const b = new Budget(state.storage, { limit: 2, windowMs: 60_000, leaseMs: 90_000 });
			expect(round(b, 1, Date.now()).granted).toHaveLength(0);
		});
	});
});
