import { abortAllDurableObjects } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { outreachFaults, outreachStats } from "../helpers/control";
import {
	faultRunHooks,
	expectInvariants,
	expectQuietAfter429,
	faultDestination,
	LIMIT,
	meanwhile,
	post,
	random,
	range,
	scale,
	scenarioLoad,
	settleTimeout,
	WINDOW_MS,
} from "./harness";

/**
 * Outreach misbehaving while a burst larger than the budget drains: random 503s, latency spikes, 429 storms
 * from another integration of the same user, and all of them at once (with the gate evicted too). Each
 * scenario has its own prospects, because the gate remembers applied versions for the whole file.
 */

faultRunHooks();

const timeout = () => settleTimeout() + 60_000;

describe("delivery while Outreach misbehaves (limit 100 per 5 s)", () => {
	it("answers 503 to a random 20 % of calls: every update still lands or is listed as failed", { timeout: timeout() }, async () => {
		const d = await faultDestination();
		const load = scenarioLoad(1, 150 * scale(), 80 * scale(), 1);
		await outreachFaults({ status: 503, probability: 0.2 });
		await post(d, load, range(0, load.profiles.length));
		const a = await expectInvariants(d, load);
		const stats = await outreachStats();
		expect(stats.requests["PATCH /api/v2/prospects/:id"]?.["503"] ?? 0, "some calls met a 503").toBeGreaterThan(0);
		expect(a.totals.delivered).toBeGreaterThan(0);
	});

	it("rides out latency spikes that come and go", { timeout: timeout() }, async () => {
		const d = await faultDestination();
		const load = scenarioLoad(2, 120 * scale(), 60 * scale(), 1001);
		const rand = random(2);
		await outreachFaults({ latencyMs: Math.round(300 + rand() * 700) });
		const drained = post(d, load, range(0, load.profiles.length)).then(() => expectInvariants(d, load));
		// Spikes of 200–1500 ms and calm spells, alternating at random moments until everything has settled.
		let slow = true; // it starts with a spike (above)
		await meanwhile(drained, rand, 300, 1200, async () => {
			slow = !slow;
			await outreachFaults({ latencyMs: slow ? Math.round(200 + rand() * 1300) : 0 });
		});
		await drained;
	});

	it("pauses for 429 storms from another integration of the same user, then delivers everything", { timeout: timeout() }, async () => {
		const d = await faultDestination();
		const load = scenarioLoad(3, 150 * scale(), 80 * scale(), 2001);
		const rand = random(3);
		// A bounded number of storms: one every window or two would starve any client, ours included.
		const storms = (async () => {
			for (let i = 0; i < 3 * scale(); i++) {
				await new Promise((r) => setTimeout(r, 800 + rand() * 2500));
				await outreachFaults({ spendBudget: { userId: 1, calls: Math.round(LIMIT * (0.5 + rand() * 0.5)) } });
			}
		})();
		await post(d, load, range(0, load.profiles.length));
		await Promise.all([storms, expectInvariants(d, load)]);
		expect(await expectQuietAfter429(), "a storm met a 429").toBeGreaterThan(0);
	});

	it("survives 503s, latency, a 429 storm and an evicted gate all at once", { timeout: timeout() }, async () => {
		const d = await faultDestination();
		const load = scenarioLoad(4, 200 * scale(), 100 * scale(), 3001);
		const rand = random(4);
		await outreachFaults({ status: 503, probability: 0.2 });
		const half = Math.floor(load.profiles.length / 2);
		await post(d, load, range(0, half));
		// The gate and the ledger lose their memory between two ingest requests…
		await abortAllDurableObjects();
		await post(d, load, range(half, load.profiles.length));
		// …and Outreach slows down and another integration spends the budget while the backlog drains.
		for (let i = 0; i < 3; i++) {
			await new Promise((r) => setTimeout(r, 500 + rand() * 1500));
			if (i === 1) await outreachFaults({ spendBudget: { userId: 1, calls: LIMIT } });
			else await outreachFaults({ latencyMs: Math.round(rand() * 800) });
		}
		await abortAllDurableObjects();
		await outreachFaults({ latencyMs: 0 });
		await expectInvariants(d, load);
		await expectQuietAfter429();
	});
});
