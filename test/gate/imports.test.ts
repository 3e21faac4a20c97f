import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { auditHooks } from "../helpers/audit";
import { resetOutreach } from "../helpers/control";
import { activity, failures, ingestOk, outreachRequests, prospectAttributes, settled } from "../helpers/data";
import { bulkDestination, burst, expectNothingCreated, LIMIT, patches, profile, prospects, requestsTo, resetForImports, S1, stats, writes } from "../helpers/imports";

/**
 * Every mapped field through Outreach's imports (the bulk issue): a prospect's changed fields travel as one
 * record of a `bulkUpsert` with `overwriteNoCreate`, when its Outreach user's backlog cannot drain by PATCH
 * within the window; a lone change still goes by PATCH. Against the local Outreach's imports at their
 * pessimistic defaults (1000 records an import, failures told only as a count) unless a test says otherwise.
 * Every test ends with the write audit (no field set back to an older version) and with no prospect created.
 */

auditHooks();

beforeEach(resetForImports);
afterEach(expectNothingCreated);

describe("a back-fill with attributes goes by imports", () => {
	it("one record per prospect with all its fields: a few import calls for hundreds of prospects, none by PATCH, none created", { timeout: 90_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 }, prospects: prospects(10_000, 600) });
		const d = await bulkDestination("Imports");
		await burst(d, 10_000, 600);
		const a = await settled(d.id, 60_000);
		expect(a.totals).toMatchObject({ received: 600, delivered: 600, failed: 0 });
		expect(await prospectAttributes(10_599)).toMatchObject({ firstName: "First-10599", lastName: "Last-10599", custom4: "realized", custom7: "realized", custom9: "exited" });
		const applied = await writes();
		expect(applied.filter((w) => w.via === "import")).toHaveLength(600 * 5);
		expect(await patches(), "nothing went by PATCH").toBe(0);
		// 600 prospects × 5 fields: at most a few imports and their polls.
		const importCalls = await requestsTo(/^\/api\/v2\/imports/);
		expect(importCalls.length).toBeGreaterThan(0);
		expect(importCalls.length, "import calls of every kind").toBeLessThanOrEqual(15);
	});

	it("a lone status change in a quiet hour goes by PATCH, as fast as without bulk", { timeout: 60_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 }, prospects: prospects(11_000, 1) });
		const d = await bulkDestination("Quiet");
		// Segment statuses only: before the backlog rule, these waited a quarter window for a bulk batch.
		await ingestOk(d.id, d.ingestToken, [{ segmentMembership: { ups: { [S1]: { status: "exited", lastQualificationTime: "2026-11-20T10:00:00Z" } } }, identityMap: { Oid: [{ id: "11000" }] } }]);
		await settled(d.id);
		expect(await patches()).toBe(1);
		expect((await stats()).imports.requests).toBe(0);
		expect((await stats()).bulk.requests).toBe(0);
		expect((await prospectAttributes(11_000)).custom4).toBe("exited");
		expect((await activity(d.id)).delivery).toMatchObject({ path: "patch", reason: expect.stringMatching(/PATCH drains them within the window/) });
	});
});

describe("failed records when Outreach tells only how many failed", () => {
	it("exactly the failed prospects end failed with a reason, the rest delivered, and no unknown prospect is created", { timeout: 120_000 }, async () => {
		// 300 known prospects; 20500 and 20501 do not exist; 20100's first name breaks a field rule.
		await resetOutreach({
			rateLimit: { limit: LIMIT, windowSeconds: 5 },
			prospects: prospects(20_000, 300),
			fieldRules: { firstName: { type: "format", definition: "^.{0,20}$" } },
		});
		const d = await bulkDestination("Failing records");
		const all = [
			...Array.from({ length: 300 }, (_, i) => profile(20_000 + i, "realized", i === 100 ? "X".repeat(40) : `F${i}`)),
			profile(20_500, "realized", "Ghost"),
			profile(20_501, "realized", "Ghost"),
		];
		await ingestOk(d.id, d.ingestToken, all.slice(0, 200));
		await ingestOk(d.id, d.ingestToken, all.slice(200));
		const a = await settled(d.id, 90_000);
		expect(a.totals).toMatchObject({ received: 302, delivered: 299, failed: 3 });
		const listed = await failures(d.id);
		expect(listed.map((f) => f.prospectId).sort()).toEqual([20_100, 20_500, 20_501]);
		for (const f of listed) expect(f.reason.length, "each failure has Outreach's reason").toBeGreaterThan(10);
		expect(listed.find((f) => f.prospectId === 20_500)!.reason).toMatch(/not found|404/i);
		expect(listed.find((f) => f.prospectId === 20_100)!.fields).toContain("firstName");
		// The rest of 20100's record was delivered: its statuses landed.
		expect((await prospectAttributes(20_100)).custom4).toBe("realized");
		expect((await prospectAttributes(20_299)).firstName).toBe("F299");
		// Finding 3 failures among 302 records costs a few dozen calls, not 302 PATCHes.
		const calls = (await outreachRequests()).filter((r) => r.path.startsWith("/api/v2/imports") || r.method === "PATCH").length;
		expect(calls).toBeLessThan(80);
	});
});

