import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { auditHooks } from "../helpers/audit";
import { adminJson, connectDestination, createDestination, resetOutreach } from "../helpers/control";
import { activity, ingestOk, prospectAttributes, putMapping, settled } from "../helpers/data";
import { bulkDestination, burst, expectNothingCreated, LIMIT, patches, profile, prospects, resetForImports, SEED_MAPPING, stats, writes } from "../helpers/imports";

/** Imports are as safe as PATCH: stalls, races, missing scopes, a spent quota (see imports.test.ts). */
auditHooks();

beforeEach(resetForImports);
afterEach(expectNothingCreated);

describe("imports are as safe as PATCH", () => {
	it("an import that stalls: its lease ends, its records go by PATCH, and so do the next ones for a while", { timeout: 90_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 }, imports: { stall: true }, prospects: prospects(30_000, 150) });
		const d = await bulkDestination("Stalled import");
		await burst(d, 30_000, 150);
		const a = await settled(d.id, 80_000);
		expect(a.totals).toMatchObject({ received: 150, delivered: 150, failed: 0 });
		expect((await stats()).imports.records, "the stalled import applied nothing").toBe(0);
		expect(await patches()).toBe(150);
		expect((await prospectAttributes(30_149)).firstName).toBe("First-30149");
		expect((await activity(d.id)).delivery.reason).toMatch(/import made no progress/);
	});

	it("a newer PATCH racing a slow import, imports finishing in either order: no value set back", { timeout: 90_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 }, imports: { recordsPerSecond: 40, outOfOrder: true }, prospects: prospects(40_000, 400) });
		const d = await bulkDestination("Racing import");
		await burst(d, 40_000, 400);
		await vi.waitUntil(async () => (await stats()).imports.requests > 0, { timeout: 20_000, interval: 100 });
		// Once the burst's pace has passed (the imports run on, 10 s at 40 records a second), two newer updates
		// are a small backlog: they go by PATCH, wait for the imports' locks on their fields, and land last.
		await new Promise((r) => setTimeout(r, 5_500));
		await ingestOk(d.id, d.ingestToken, [profile(40_399, "exited", "Newer-399", "2026-11-21T10:00:00Z"), profile(40_001, "exited", "Newer-1", "2026-11-21T10:00:00Z")]);
		await settled(d.id, 80_000);
		expect(await prospectAttributes(40_399)).toMatchObject({ firstName: "Newer-399", custom4: "exited" });
		expect(await prospectAttributes(40_001)).toMatchObject({ firstName: "Newer-1", custom4: "exited" });
		const last = (await writes()).filter((w) => w.prospectId === 40_399 && w.field === "firstName").at(-1);
		expect(last).toMatchObject({ value: "Newer-399", via: "patch" });
		expect((await writes()).filter((w) => w.prospectId === 40_399 && w.field === "firstName").map((w) => w.via)).toEqual(["import", "patch"]);
	});

	it("without the imports scopes, every update goes by PATCH and the Activity answer says to reconnect", { timeout: 60_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 }, prospects: prospects(50_000, 120) });
		const created = await createDestination({ name: "No import scopes" });
		await connectDestination(created.id); // connected before the bulk paths were switched on
		await adminJson(`/api/destinations/${created.id}`, { method: "PATCH", json: { bulkApi: true } });
		await putMapping(created.id, SEED_MAPPING);
		await burst(created, 50_000, 120);
		const a = await settled(created.id, 50_000);
		expect(a.totals).toMatchObject({ delivered: 120, failed: 0 });
		expect((await stats()).imports.requests).toBe(0);
		expect(await patches()).toBe(120);
		expect(a.delivery).toEqual({ path: "patch", reason: expect.stringMatching(/imports\.read and imports\.write.*reconnect/) });
	});

	it("when the import quota is used up: PATCH, without pausing the hourly budget", { timeout: 60_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 }, imports: { dailyRecordQuota: 50 }, prospects: prospects(60_000, 150) });
		const d = await bulkDestination("Import quota");
		await burst(d, 60_000, 150);
		const a = await settled(d.id, 50_000);
		expect(a.totals).toMatchObject({ delivered: 150, failed: 0 });
		expect((await stats()).imports.quota429).toBeGreaterThan(0);
		expect((await prospectAttributes(60_149)).firstName).toBe("First-60149");
		expect(a.budget.pausedUntil, "the quota's 429 does not pause the PATCH budget").toBeNull();
		expect((await activity(d.id)).delivery.reason).toMatch(/import quota/);
	});
});

