import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ledgerStub } from "../src/ledger";

const source = (prospectId: number) => ({ prospectId, observedAt: 1, seq: prospectId, segments: {}, attributes: { "person.name.firstName": "A" } });

async function ledgerWithFailures(n: number) {
	const ledger = ledgerStub(env, `ledger-test-${crypto.randomUUID()}`);
	const accepted = Array.from({ length: n }, (_, i) => ({ id: `r:${i}`, prospectId: i + 1, segments: [], source: source(i + 1) }));
	await ledger.receive({ requestId: "r", at: Date.now(), accepted, rejected: [], skipped: 0 });
	await ledger.record(accepted.map((a) => ({ id: a.id, state: "failed" as const, reason: "Outreach answered 404" })));
	return ledger;
}

describe("the ledger's replay", () => {
	it("replays page by page and keeps the counts adding up", async () => {
		const ledger = await ledgerWithFailures(3);
		expect(await ledger.beginReplay([], 2)).toHaveLength(2);
		expect(await ledger.beginReplay([], 2)).toHaveLength(1);
		expect(await ledger.beginReplay([], 2)).toHaveLength(0);
		const { totals } = await ledger.activity();
		expect(totals).toMatchObject({ received: 3, pending: 3, failed: 0 });
	});

	it("offers a replay that never reached the queue again after a while, without counting it twice", async () => {
		const ledger = await ledgerWithFailures(2);
		expect(await ledger.beginReplay(["r:0"])).toHaveLength(1);
		// Still pending 16 minutes later: its request died before the queue write.
		const again = await ledger.beginReplay([], 500, Date.now() + 16 * 60_000);
		expect(again.map((r) => r.id).sort()).toEqual(["r:0", "r:1"]);
		expect((await ledger.activity()).totals).toMatchObject({ received: 2, pending: 2, failed: 0 });
	});
});
