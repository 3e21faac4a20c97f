import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { assumedPerMs, OutreachEngine, outreachTime, planAhead } from "../../src/gate/engine";
import { gateStub } from "../../src/gate/gate";

/**
 * What the gate learns of Outreach's engine from its own jobs (src/gate/engine.ts): the pace over the time the
 * engine was busy with them, however they ran, and when each job should be done, however the engine orders them.
 */

async function withEngine<T>(name: string, f: (engine: OutreachEngine) => T): Promise<T> {
	return runInDurableObject(gateStub(env, `engine-test-${name}`), (_i, state) => f(new OutreachEngine(state.storage.kv, "engine.test", 0.2)));
}

describe("Outreach's engine as the gate sees it", () => {
	it("plans each job at the later of one after another and side by side: never looked at early under either", () => {
		const { doneAt, freeAt } = planAhead(1_000, [{ id: 1, units: 100 }, { id: 2, units: 300 }, { id: 3, units: 100 }], 0.1);
		// One after another, 1 is done after its 100; side by side, after 100 of each of the three (300).
		expect(doneAt.get(1)).toBe(1_000 + 300 / 0.1);
		// One after another, 2 is done after 400; side by side, after all 500.
		expect(doneAt.get(2)).toBe(1_000 + 500 / 0.1);
		// One after another, 3 is done last, after 500; side by side, after 300.
		expect(doneAt.get(3)).toBe(1_000 + 500 / 0.1);
		expect(freeAt).toBe(1_000 + 500 / 0.1);
		expect(planAhead(1_000, [], 0.1).freeAt).toBe(1_000);
	});

	it("assumes the local Outreach's pace until a job finished, then learns it from the job's own times", async () => {
		const learnt = await withEngine("learn", (engine) => {
			const before = { learnt: engine.learnt, perMs: engine.perMs };
			// 1,000 items from 10 s to 12 s on Outreach's clock: 0.5 items a millisecond.
			engine.learn(1_000, 10_000, 12_000);
			return { before, after: { learnt: engine.learnt, perMs: engine.perMs } };
		});
		expect(learnt.before).toEqual({ learnt: false, perMs: 0.2 });
		expect(learnt.after.learnt).toBe(true);
		expect(learnt.after.perMs).toBeCloseTo(0.5);
	});

	it("counts jobs that ran side by side, or queued one behind another, at the engine's pace, not each job's", async () => {
		const paces = await withEngine("overlap", (engine) => {
			// Two jobs of 1,000 created together and run side by side, both over 0–4 s: 2,000 units in 4 s.
			engine.learn(1_000, 0, 4_000);
			engine.learn(1_000, 0, 4_000);
			return { sideBySide: engine.perMs };
		});
		expect(paces.sideBySide).toBeCloseTo(0.5);
		const queued = await withEngine("queued", (engine) => {
			// One after another: created at 0, the second waits for the first (done at 2 s), done at 4 s.
			engine.learn(1_000, 0, 2_000);
			engine.learn(1_000, 0, 4_000);
			return engine.perMs;
		});
		expect(queued).toBeCloseTo(0.5);
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
