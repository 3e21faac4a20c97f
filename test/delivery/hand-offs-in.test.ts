import { describe, expect, it } from "vitest";
import { crashAt } from "../../src/platform/crashpoints";
import { ingest, ingestOk } from "../helpers/data";
import { crashScenario, destinationWithLoad, expectWhole, handOffHooks } from "../helpers/hand-offs";

/**
 * Nothing lost, nothing stuck, nothing doubled (design: "Holding and handing off"), on the way in: ingest's receipt and the ledger's outbox.
 * The Worker is made to fail once at the hand-off (src/platform/crashpoints.ts), on a load larger than the budget
 * (100 calls per 5 s), so deferrals and re-sends are part of every run; each ends with every update delivered,
 * the write audit clean, counts that add up, nothing pending and nothing listed failed (test/helpers/hand-offs.ts).
 */

handOffHooks();

describe("a crash at a hand-off on the way in", () => {
	it("between the receipt and the queue write: the request answers 503, AEP's retry gets the first copy's counts, and the outbox hands the updates over", { timeout: 120_000 }, async () => {
		const { d, load } = await destinationWithLoad();
		crashAt("ledger.receipt");
		const body = JSON.stringify(load.profiles.slice(0, 10));
		const first = await ingest(d.id, d.ingestToken, body);
		expect(first.status).toBe(503);
		expect(((await first.json()) as { error: { message: string } }).error.message).toMatch(/Retry the request/);
		// AEP retries about 15 s later (here at once): the receipt exists, so it is that request's retry.
		const retry = await ingestOk(d.id, d.ingestToken, body);
		expect(retry).toMatchObject({ accepted: 10, rejected: [] });
		for (let i = 10; i < load.profiles.length; i += 10) await ingestOk(d.id, d.ingestToken, load.profiles.slice(i, i + 10));
		await expectWhole(d, load, { repeats: 0 });
	});

	it("inside the outbox's sendBatch: the ledger's alarm hands the updates over", { timeout: 120_000 }, async () => {
		await crashScenario("outbox.send", 3);
	});
});
