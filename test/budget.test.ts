import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maxInAnyWindow as maxInWindow } from "../scripts/bench/stats";
import { Budget } from "../src/gate/budget";

/** Runs `fn` with a fresh Budget on a real gate's SQLite storage (the budget's tables emptied first). */
async function withBudget<T>(opts: { limit: number; windowMs: number }, fn: (budget: () => Budget) => T): Promise<T> {
	const stub = env.GATE.getByName(`budget-test-${crypto.randomUUID()}`);
	return runInDurableObject(stub, (_instance, state) =>
		fn(() => {
			state.storage.sql.exec(`DROP TABLE IF EXISTS budget_grants`);
			state.storage.kv.delete("budget.pausedUntil");
			state.storage.kv.delete("budget.server");
			return new Budget(state.storage, { leaseMs: 90_000, ...opts });
		}),
	);
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
							const { granted, slots } = budget.grant(e.calls, now);
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

	it("grants the whole limit in every window under a steady backlog", async () => {
		const params = fc.record({
			limit: fc.integer({ min: 1, max: 50 }),
			windowMs: fc.integer({ min: 100, max: 10_000 }),
			windows: fc.integer({ min: 1, max: 6 }),
			backlog: fc.integer({ min: 1, max: 200 }),
		});
		await fc.assert(
			fc.asyncProperty(params, async ({ limit, windowMs, windows, backlog }) => {
				await withBudget({ limit, windowMs }, (fresh) => {
					const budget = fresh();
					const start = 5_000_000;
					const end = start + windows * windowMs;
					let now = start;
					let granted = 0;
					// A consumer that always wants `backlog` more calls and comes back at its first slot.
					while (now < end) {
						const r = budget.grant(backlog, now);
						granted += r.granted.length;
						budget.settle(r.granted.map((id) => ({ id, at: now })));
						now = r.slots.length ? Math.max(r.slots[0]!, now + 1) : now + 1;
					}
					expect(granted).toBe(windows * limit);
				});
			}),
			{ numRuns: 100 },
		);
	});

	it("hands back, for each call it cannot grant, the moment a slot frees", async () => {
		await withBudget({ limit: 3, windowMs: 1000 }, (fresh) => {
			const budget = fresh();
			const first = budget.grant(2, 0).granted;
			budget.settle(first.map((id) => ({ id, at: 0 })));
			const second = budget.grant(1, 400).granted;
			budget.settle(second.map((id) => ({ id, at: 400 })));
			expect([first.length, second.length]).toEqual([2, 1]);
			const { granted, slots } = budget.grant(4, 500);
			expect(granted).toHaveLength(0);
			// Two grants at 0 free at 1000, the one at 400 at 1400, and the fourth waits for the first to age out again.
			expect(slots).toEqual([1000, 1000, 1400, 2000]);
		});
	});

	it("obeys X-RateLimit-Remaining: another integration's spending lowers what it grants", async () => {
		await withBudget({ limit: 100, windowMs: 10_000 }, (fresh) => {
			const budget = fresh();
			const first = budget.grant(1, 0).granted[0]!;
			budget.observe(first, 5, 8_000);
			const { granted, slots } = budget.grant(10, 100);
			expect(granted).toHaveLength(5);
			expect(slots.every((s) => s >= 8_000)).toBe(true);
			// After the server's reset its word no longer applies.
			expect(budget.grant(10, 8_000).granted).toHaveLength(10);
		});
	});

	it("pauses until the reset a 429 gave, then grants again", async () => {
		await withBudget({ limit: 100, windowMs: 10_000 }, (fresh) => {
			const budget = fresh();
			budget.pause(3_000);
			const paused = budget.grant(2, 1_000);
			expect(paused.granted).toHaveLength(0);
			expect(paused.slots).toEqual([3_000, 3_000]);
			expect(budget.status(1_000).pausedUntil).toBe(3_000);
			expect(budget.grant(2, 3_000).granted).toHaveLength(2);
		});
	});

	it("counts a call still in flight against the window however long it takes to be answered", async () => {
		await withBudget({ limit: 2, windowMs: 1000 }, (fresh) => {
			const budget = fresh();
			const [a, b] = budget.grant(2, 0).granted;
			// Two windows later both calls are still unanswered: they may reach Outreach any moment, so no new grant.
			expect(budget.grant(1, 2500).granted).toHaveLength(0);
			budget.settle([{ id: a!, at: 2600 }]);
			expect(budget.grant(1, 2700).granted).toHaveLength(0);
			expect(budget.grant(1, 3601).granted).toHaveLength(1);
			void b;
		});
	});

	it("survives a new instance: grants are persisted, not kept in memory", async () => {
		const stub = env.GATE.getByName("budget-persist");
		await runInDurableObject(stub, (_i, state) => {
			const b = new Budget(state.storage, { limit: 2, windowMs: 60_000, leaseMs: 90_000 });
			expect(b.grant(2, Date.now()).granted).toHaveLength(2);
		});
		await runInDurableObject(stub, (_i, state) => {
			const b = new Budget(state.storage, { limit: 2, windowMs: 60_000, leaseMs: 90_000 });
			expect(b.grant(1, Date.now()).granted).toHaveLength(0);
		});
	});
});
