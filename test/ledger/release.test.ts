import { describe, expect, it } from "vitest";
import type { BudgetStatus } from "../../src/gate/budget";
import { releasePlan, type ReleasePlan } from "../../src/ledger/release";

/** The pace of a release, as a rule (src/ledger/release.ts); held-pace.test.ts checks it end to end. */

const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;
const CONFIGURED = { limit: 10_000, windowMs: HOUR };
const idle: BudgetStatus = { limit: 10_000, windowSeconds: 3600, usedInWindow: 0, pausedUntil: null, reserved: 0, lastSlotAt: null };

/** When the `k`-th (0-based, oldest first) update of the plan is handed over. */
const sendAt = (p: ReleasePlan, k: number) => (k < p.atOnce ? NOW : p.from + Math.floor((k - p.atOnce) / p.perStep) * p.stepMs);

describe("the pace of a release", () => {
	it("hands over at once what the free budget covers: 200 held with the window free", () => {
		const p = releasePlan(200, NOW, { budget: idle, bulk: false }, CONFIGURED);
		expect(p).toMatchObject({ atOnce: 200, pace: "budget" });
		expect(sendAt(p, 199)).toBe(NOW);
	});

	it("sends the rest a window's limit at a time, from when the calls sent now have left the window", () => {
		const p = releasePlan(25_000, NOW, { budget: { ...idle, usedInWindow: 4_000 }, bulk: false }, CONFIGURED);
		expect(p.atOnce).toBe(6_000);
		expect(sendAt(p, 6_000)).toBe(NOW + HOUR);
		expect(sendAt(p, 15_999)).toBe(NOW + HOUR);
		expect(sendAt(p, 16_000)).toBe(NOW + 2 * HOUR);
		expect(sendAt(p, 24_999)).toBe(NOW + 2 * HOUR);
	});

	it("lets calls deferred before go first, and waits out a 429's pause", () => {
		const slots = releasePlan(500, NOW, { budget: { ...idle, usedInWindow: 100, reserved: 9_950, lastSlotAt: NOW + 2 * HOUR }, bulk: false }, CONFIGURED);
		expect(slots).toMatchObject({ atOnce: 0, from: NOW + 2 * HOUR });
		const paused = releasePlan(500, NOW, { budget: { ...idle, pausedUntil: NOW + 60_000 }, bulk: false }, CONFIGURED);
		expect(paused).toMatchObject({ atOnce: 0, from: NOW + 60_000 });
	});

	it("hands a bulk destination's whole backlog over at once, whatever the budget", () => {
		const p = releasePlan(100_000, NOW, { budget: { ...idle, usedInWindow: 10_000 }, bulk: true }, CONFIGURED);
		expect(p).toMatchObject({ atOnce: 100_000, pace: "bulk" });
	});

	it("without the gate's word, goes at the configured limit's pace: a quarter window's share at a time", () => {
		const p = releasePlan(6_000, NOW, null, CONFIGURED);
		expect(p).toMatchObject({ atOnce: 2_500, pace: "unknown budget" });
		expect(sendAt(p, 2_500)).toBe(NOW + HOUR / 4);
		expect(sendAt(p, 5_999)).toBe(NOW + HOUR / 2);
	});
});
