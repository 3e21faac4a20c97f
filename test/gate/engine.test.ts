import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { assumedPerMs, OutreachEngine, outreachTime } from "../../src/gate/engine";
import { gateStub } from "../../src/gate/gate";

/**
 * What the gate learns of Outreach's engine from its own jobs (src/gate/engine.ts): the pace over the time the
 * engine was busy with them, however they ran, and the backlog of ours it still has.
 */

async function withEngine<T>(name: string, f: (engine: OutreachEngine) => T): Promise<T> {
	return runInDurableObject(gateStub(env, `engine-test-${name}`), (_i, state) => f(new OutreachEngine(state.storage.kv, "engine.test", 0.2)));
}

describe("Outreach's engine as the gate sees it", () => {
	it("plans a job after the backlog sent before it, which drains at the pace", async () => {
		const at = await withEngine("backlog", (engine) => {
			// At the assumed 0.2 units a millisecond.
			const first = engine.sent(1_000, 0); // done at 5 s
			const second = engine.sent(200, 1_000); // 800 of the first left at 1 s: done at 1 s + 1,000 / 0.2
			const freeAt = engine.freeAt(1_000);
			const later = engine.sent(200, 60_000); // the engine is free by then
			engine.idle(60_500);
			return { first, second, freeAt, later, idle: engine.freeAt(60_500) };
		});
		expect(at).toEqual({ first: 5_000, second: 6_000, freeAt: 6_000, later: 61_000, idle: 60_500 });
	});

	it("assumes the local Outreach's pace until a job finished, then learns it from the job's own times, slower or faster", async () => {
		const learnt = await withEngine("learn", (engine) => {
			const before = { learnt: engine.learnt, perMs: engine.perMs };
			// 1,000 items from 10 s to 12 s on Outreach's clock: 0.5 items a millisecond.
			engine.learn(1_000, 10_000, 12_000, { lastOfPeriod: true, sideBySide: false });
			return { before, after: { learnt: engine.learnt, perMs: engine.perMs } };
		});
		expect(learnt.before).toEqual({ learnt: false, perMs: 0.2 });
		// 0.5 a millisecond: faster than assumed. (One after another, a slower reading is taken as it is too: below.)
		expect(learnt.after.learnt).toBe(true);
		expect(learnt.after.perMs).toBeCloseTo(0.5);
	});

	it("counts jobs that ran side by side, or queued one behind another, at the engine's pace, not each job's", async () => {
		const paces = await withEngine("overlap", (engine) => {
			// Two jobs of 1,000 created together and run side by side, both over 0–4 s: 2,000 units in 4 s.
			engine.learn(1_000, 0, 4_000, { lastOfPeriod: false, sideBySide: true });
			engine.learn(1_000, 0, 4_000, { lastOfPeriod: true, sideBySide: false });
			return { sideBySide: engine.perMs };
		});
		expect(paces.sideBySide).toBeCloseTo(0.5);
		const queued = await withEngine("queued", (engine) => {
			// One after another: created at 0, the second waits for the first (done at 2 s), done at 4 s.
			engine.learn(1_000, 0, 2_000, { lastOfPeriod: false, sideBySide: false });
			engine.learn(1_000, 0, 4_000, { lastOfPeriod: true, sideBySide: false });
			return engine.perMs;
		});
		expect(queued).toBeCloseTo(0.5);
	});

	it("never takes the pace below what the last whole busy period showed: side by side, the first to finish read slow", async () => {
		const paces = await withEngine("floor", (engine) => {
			// A busy period: 4,000 units in 4 s (1 a millisecond), the last job finishing ends it.
			engine.learn(2_000, 0, 2_000, { lastOfPeriod: false, sideBySide: false });
			engine.learn(2_000, 2_000, 4_000, { lastOfPeriod: true, sideBySide: false });
			// The next period: ten jobs side by side, the first done after 10 s holds 1,000 of the 10,000 units.
			engine.learn(1_000, 10_000, 20_000, { lastOfPeriod: false, sideBySide: true });
			const midPeriod = engine.perMs;
			for (let k = 1; k < 10; k++) engine.learn(1_000, 10_000, 20_000, { lastOfPeriod: k === 9, sideBySide: k < 9 });
			return { midPeriod, after: engine.perMs };
		});
		expect(paces.midPeriod, "not 0.1, what the first job alone reads").toBeCloseTo(1);
		expect(paces.after).toBeCloseTo(1);
	});

	it("reads Outreach's times, and ignores what it cannot read", () => {
		expect(outreachTime("2026-12-06T10:00:00.250Z")).toBe(Date.UTC(2026, 11, 6, 10, 0, 0, 250));
		expect(outreachTime(null)).toBeUndefined();
		expect(outreachTime("soon")).toBeUndefined();
	});

	it("assumes the engines run faster on a compressed clock, as the limit does", () => {
		expect(assumedPerMs(200, { OUTREACH_RATE_LIMIT: 10_000, OUTREACH_RATE_WINDOW_SECONDS: 3600 })).toBeCloseTo(0.2);
		expect(assumedPerMs(200, { OUTREACH_RATE_LIMIT: 200, OUTREACH_RATE_WINDOW_SECONDS: 10 })).toBeCloseTo(1.44);
	});
});
