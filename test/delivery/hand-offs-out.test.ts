import { describe, it } from "vitest";
import { crashScenario, handOffHooks } from "../helpers/hand-offs";

/**
 * Nothing lost, nothing stuck, nothing doubled (design: "Holding and handing off"), on the way out: the consumer's PATCH, the ledger's record of a batch and its re-send.
 * The Worker is made to fail once at the hand-off (src/platform/crashpoints.ts), on a load larger than the budget
 * (100 calls per 5 s), so deferrals and re-sends are part of every run; each ends with every update delivered,
 * the write audit clean, counts that add up, nothing pending and nothing listed failed (test/helpers/hand-offs.ts).
 */

handOffHooks();

describe("a crash at a hand-off on the way out", () => {
	it("between a PATCH and its settle: the batch is retried, and a PATCH repeats at most once, never an older value", { timeout: 120_000 }, async () => {
		await crashScenario("delivery.patched", 1, 1);
	});

	it("inside the ledger's recording of a batch: the batch is retried, Outreach's accepted updates are delivered, not failed", { timeout: 120_000 }, async () => {
		await crashScenario("ledger.record", 2);
	});

	it("inside the re-send, after the ledger recorded the batch: no copy is added, the alarm sends what was due", { timeout: 120_000 }, async () => {
		await crashScenario("ledger.resend", 2);
	});
});
