import { describe, expect, it } from "vitest";
import { bareLedger } from "../helpers/ledger";

/** A destination's ledger holding `n` failed updates, written through its own RPC methods. */
async function ledgerWithFailures(n: number) {
	const { id, ledger } = await bareLedger("ledger-test-");
	await ledger.putMapping(id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }], segments: [] });
	const now = Date.now();
	const accepted = Array.from({ length: n }, (_, i) => ({
		update: { id: `r:${i}`, prospectId: i + 1, fields: { firstName: { value: "A", v: [1, now, now, i] as [number, number, number, number] } } },
		segments: [],
		source: { prospectId: i + 1, observedAt: now, seq: i, segments: {}, attributes: { "person.name.firstName": "A" } },
	}));
	await ledger.receive({ destinationId: id, requestId: "r", at: now, bodyHash: crypto.randomUUID(), accepted, rejected: [], skipped: 0 });
	await ledger.settle(id, { outcomes: accepted.map((a) => ({ id: a.update.id, state: "failed" as const, reason: "Outreach answered 404" })), resend: [], hold: [] });
	return { id, ledger };
}

describe("the ledger's replay", () => {
	it("replays every failure with the current mapping and keeps the counts adding up", async () => {
		const { id, ledger } = await ledgerWithFailures(3);
		expect((await ledger.activity()).totals).toMatchObject({ received: 3, failed: 3 });
		expect(await ledger.replay(id, [])).toEqual({ replayed: 3, unmappable: 0, more: false });
		const { totals } = await ledger.activity();
		expect(totals).toMatchObject({ received: 3, pending: 3, failed: 0 });
		expect(await ledger.replay(id, []), "a pending replay is not replayed twice").toEqual({ replayed: 0, unmappable: 0, more: false });
	});

	it("leaves a failure the current mapping cannot map listed, with the reason, and takes it only once per replay", async () => {
		const { id, ledger } = await ledgerWithFailures(2);
		await ledger.putMapping(id, { identityNamespace: "Oid", attributes: [{ source: "person.name.lastName", target: "lastName" }], segments: [] });
		expect(await ledger.replay(id, [], Date.now())).toEqual({ replayed: 0, unmappable: 2, more: false });
		const failures = await ledger.failures();
		expect(failures.map((f) => f.reason)).toEqual(["Replay: the current mapping maps none of this update's data", "Replay: the current mapping maps none of this update's data"]);
		expect((await ledger.activity()).totals).toMatchObject({ received: 2, failed: 2, pending: 0 });
	});
});
