import { describe, expect, it } from "vitest";
import { bareLedger } from "../helpers/ledger";

/**
 * Updates from the Destination SDK package carry the mapping AEP sent (its Mapping IDs, attribute names) in
 * their source data: a replay maps them by it, with or without a console mapping.
 */
async function ledgerWithPackageFailure(consoleMapping: unknown | null) {
	const { id, ledger } = await bareLedger("ledger-aep-");
	if (consoleMapping) await ledger.putMapping(id, consoleMapping as never);
	const now = Date.now();
	const source = {
		prospectId: 7,
		observedAt: now,
		seq: 0,
		segments: { seg: { status: "exited" as const, lastQualificationTime: "2026-11-20T10:15:00Z" } },
		attributes: { "attributes.firstName.value": "Zoë \"Q\"" },
		aep: { segments: [{ segmentId: "seg", mappingId: 4 }], attributes: [{ source: "attributes.firstName.value", target: "firstName" }] },
	};
	const update = { id: "r:0", prospectId: 7, fields: { custom4: { value: "exited", v: [0, now, now, 0] as [number, number, number, number] } } };
	await ledger.receive({ destinationId: id, requestId: "r", at: now, bodyHash: crypto.randomUUID(), accepted: [{ update, segments: [{ segmentId: "seg", mappingId: 4 }], source }], rejected: [], skipped: 0 });
	await ledger.settle(id, { outcomes: [{ id: "r:0", state: "failed" as const, reason: "Outreach answered 500" }], resend: [], hold: [] });
	return { id, ledger };
}

describe("the ledger's replay of the package's updates", () => {
	it("maps them by AEP's Mapping ID and attribute names when the console has no mapping", async () => {
		const { id, ledger } = await ledgerWithPackageFailure(null);
		expect(await ledger.replay(id, [])).toEqual({ replayed: 1, unmappable: 0, more: false });
		expect((await ledger.activity()).totals).toMatchObject({ received: 1, pending: 1, failed: 0 });
	});

	it("keeps AEP's Mapping ID over a console mapping of the same segment, with the console's status words", async () => {
		const { id, ledger } = await ledgerWithPackageFailure({ identityNamespace: "Oid", segments: [{ segmentId: "seg", mappingId: 9 }], statusValues: { exited: "Left" } });
		expect(await ledger.replay(id, [])).toEqual({ replayed: 1, unmappable: 0, more: false });
		expect((await ledger.activity()).totals).toMatchObject({ pending: 1, failed: 0 });
	});
});
