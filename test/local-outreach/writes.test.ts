import { beforeEach, describe, expect, it } from "vitest";
import { BULK_SCOPES, createBatch, patchProspect, reset, signIn, sleep, waitForBatch, writesLog } from "./helpers.ts";

let token: string;

describe("local Outreach: the write log (/__fake/writes)", () => {
	beforeEach(async () => {
		await reset();
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
	});

	it("logs one entry per attribute of an applied PATCH, in the PATCH's order", async () => {
		const before = Date.now();
		expect((await patchProspect(token, 7, { lastName: "Lee", custom4: "Active", tags: ["vip"] })).status).toBe(200);
		expect((await patchProspect(token, 8, { custom4: null })).status).toBe(200);
		const writes = await writesLog();
		expect(writes).toEqual([
			{ at: expect.any(Number), prospectId: 7, field: "lastName", value: "Lee", via: "patch" },
			{ at: expect.any(Number), prospectId: 7, field: "custom4", value: "Active", via: "patch" },
			{ at: expect.any(Number), prospectId: 7, field: "tags", value: ["vip"], via: "patch" },
			{ at: expect.any(Number), prospectId: 8, field: "custom4", value: null, via: "patch" },
		]);
		expect(writes[0]!.at).toBeGreaterThanOrEqual(before - 1000);
		expect(writes.every((w) => !("batchId" in w))).toBe(true);
	});

	it("logs nothing for a PATCH that is refused", async () => {
		expect((await patchProspect(token, 7, { custom151: "x", firstName: "Ann" })).status).toBe(422);
		expect((await patchProspect(token, 10_001, { firstName: "Ann" })).status).toBe(404);
		expect((await patchProspect(null, 7, { firstName: "Ann" })).status).toBe(401);
		expect(await writesLog()).toEqual([]);
	});

	it("?since=epochMs answers only the writes applied at or after it", async () => {
		await patchProspect(token, 1, { firstName: "A" });
		await sleep(20);
		const [first] = await writesLog();
		await patchProspect(token, 2, { firstName: "B" });
		await patchProspect(token, 3, { firstName: "C" });
		const all = await writesLog();
		expect(all.map((w) => w.prospectId)).toEqual([1, 2, 3]);
		expect(all.map((w) => w.at)).toEqual([...all.map((w) => w.at)].sort((a, b) => a - b));
		expect((await writesLog(all[1]!.at)).map((w) => w.prospectId)).toEqual([2, 3]);
		expect((await writesLog(first!.at + 1)).map((w) => w.prospectId)).toEqual([2, 3]);
		expect(await writesLog(all[2]!.at + 1)).toEqual([]);
		expect((await writesLog(0)).length).toBe(3);
	});

	it("logs a bulk item when the batch applies it, with via bulk and the batchId", async () => {
		await reset({ bulk: { itemsPerSecond: 20 } });
		token = (await signIn({ scope: BULK_SCOPES })).access_token;
		const sent = Date.now();
		const batch = await createBatch(token, { fieldName: "custom4", fieldValue: "Active", ids: [3, 1, 2] });
		// At 20 items a second nothing has landed yet when the request is answered.
		expect(await writesLog()).toEqual([]);
		await waitForBatch(token, batch.id);
		const writes = await writesLog();
		expect(writes).toEqual([3, 1, 2].map((prospectId) => ({ at: expect.any(Number), prospectId, field: "custom4", value: "Active", via: "bulk", batchId: batch.id })));
		// Applied over time at the org's rate, not when the request arrived.
		expect(writes[0]!.at).toBeGreaterThanOrEqual(sent + 20);
		expect(writes[2]!.at - writes[0]!.at).toBeGreaterThanOrEqual(60);
	});

	it("is cleared by /__fake/reset", async () => {
		await patchProspect(token, 1, { firstName: "A" });
		expect(await writesLog()).toHaveLength(1);
		await reset();
		expect(await writesLog()).toEqual([]);
	});
});
