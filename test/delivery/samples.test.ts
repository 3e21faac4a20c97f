import { beforeEach, describe, expect, it } from "vitest";
import mapping from "../fixtures/mapping.json";
import profilesArray from "../fixtures/profiles-array.json";
import profileSingle from "../fixtures/profile-single.json";
import ndjson from "../fixtures/profiles.ndjson?raw";
import { createConnectedDestination, resetOutreach } from "../helpers/control";
import { expectCountsAddUp, ingestOk, prospectAttributes, putMapping, settled } from "../helpers/data";
import { auditHooks } from "../helpers/audit";


auditHooks();

describe("the AEP samples, delivered through the real queue to the local Outreach", () => {
	beforeEach(async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
	});

	it("a single profile sets its mapped segments and attributes and ignores unmapped segments", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping);
		expect(await ingestOk(d.id, d.ingestToken, profileSingle)).toEqual({ accepted: 1, skipped: 0, rejected: [] });
		const a = await settled(d.id);
		expect(await prospectAttributes(4211)).toMatchObject({ custom4: "realized", custom7: "exited", firstName: "Ana", lastName: "Souza" });
		expect(a.totals).toMatchObject({ received: 1, delivered: 1 });
		expectCountsAddUp(a.totals);
	});

	it("an array delivers the good profiles and rejects the others with their index and reason", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping);
		const answer = await ingestOk(d.id, d.ingestToken, profilesArray);
		expect(answer.accepted).toBe(2);
		expect(answer.rejected.map((r) => r.index)).toEqual([2, 3]);
		expect(answer.rejected[0]!.error).toMatch(/Oid/);
		expect(answer.rejected[1]!.error).toMatch(/not-a-number/);
		const a = await settled(d.id);
		expect(await prospectAttributes(4212)).toMatchObject({ custom4: "existing", firstName: "Bruno", lastName: "Lima" });
		expect(await prospectAttributes(4213)).toMatchObject({ custom7: "realized", firstName: "Carla" });
		expect(a.totals).toMatchObject({ received: 4, rejected: 2, delivered: 2 });
		expectCountsAddUp(a.totals);
	});

	it("NDJSON: the later qualification wins whatever the order of the lines", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping);
		const lines = ndjson.trim().split("\n");
		const reversed = [lines[1], lines[0], lines[2]].join("\n\n");
		expect(await ingestOk(d.id, d.ingestToken, reversed, "application/x-ndjson")).toMatchObject({ accepted: 3, rejected: [] });
		const a = await settled(d.id);
		expect((await prospectAttributes(4214)).custom4).toBe("exited");
		expect((await prospectAttributes(4215)).lastName).toBe("Ribeiro");
		expect(a.totals.delivered + a.totals.superseded).toBe(3);
		expectCountsAddUp(a.totals);
	});
});
