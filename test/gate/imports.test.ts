import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { auditHooks } from "../helpers/audit";
import { adminJson, connectDestination, createDestination, outreachFaults, REP, resetOutreach, type CreatedDestination } from "../helpers/control";
import { activity, failures, ingestOk, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";

/**
 * Every mapped field through Outreach's imports (the bulk issue): a prospect's changed fields travel as one
 * record of a `bulkUpsert` with `overwriteNoCreate`, when its Outreach user's backlog cannot drain by PATCH
 * within the window; a lone change still goes by PATCH. Against the local Outreach's imports at their
 * pessimistic defaults (1000 records an import, failures told only as a count) unless a test says otherwise.
 * Every test ends with the write audit (no field set back to an older version) and with no prospect created.
 */

auditHooks();

const S1 = "imp-seg-one-4000-8000-000000000001";
const S2 = "imp-seg-two-4000-8000-000000000002";
const S3 = "imp-seg-three-400-8000-000000000003";
/** The seed's mapping: three segments, first and last name. */
const SEED_MAPPING = {
	identityNamespace: "Oid",
	segments: [
		{ segmentId: S1, mappingId: 4 },
		{ segmentId: S2, mappingId: 7 },
		{ segmentId: S3, mappingId: 9 },
	],
	attributes: [
		{ source: "person.name.firstName", target: "firstName" },
		{ source: "person.name.lastName", target: "lastName" },
	],
};

type Stats = { imports: { requests: number; records: number; created: number; quota429: number }; bulk: { requests: number }; status429: number };
const stats = async () => (await (await fetch(`${env.OUTREACH_API_BASE}/__fake/stats`)).json()) as Stats;
type Write = { at: number; prospectId: number; field: string; value: unknown; via: string };
const writes = async () => ((await (await fetch(`${env.OUTREACH_API_BASE}/__fake/writes`)).json()) as { writes: Write[] }).writes;

const LIMIT = 100;
const prospects = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: from + i }));

beforeEach(async () => {
	await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 } });
});

afterEach(async () => {
	expect((await stats()).imports.created, "prospects created by an import").toBe(0);
	const s = await stats();
	expect(s.status429 - s.imports.quota429, "429s for the hourly limit").toBe(0);
	await outreachFaults({});
});

async function bulkDestination(name: string): Promise<CreatedDestination> {
	const created = await createDestination({ name });
	await adminJson(`/api/destinations/${created.id}`, { method: "PATCH", json: { bulkApi: true } });
	await connectDestination(created.id);
	await putMapping(created.id, SEED_MAPPING);
	return { ...created, bulkApi: true };
}

const profile = (id: number, status: string, first: string, t = "2026-11-20T10:00:00Z") => ({
	person: { name: { firstName: first, lastName: `Last-${id}` } },
	segmentMembership: { ups: { [S1]: { status, lastQualificationTime: t }, [S2]: { status: "realized", lastQualificationTime: t }, [S3]: { status: "exited", lastQualificationTime: t } } },
	identityMap: { Oid: [{ id: String(id) }] },
});

/** A burst of `n` prospects from `from`, in requests of 200: more than the window's PATCH budget drains. */
async function burst(d: CreatedDestination, from: number, n: number, first = (id: number) => `First-${id}`): Promise<void> {
	const all = Array.from({ length: n }, (_, i) => profile(from + i, "realized", first(from + i)));
	for (let i = 0; i < all.length; i += 200) await ingestOk(d.id, d.ingestToken, all.slice(i, i + 200));
}

const requestsTo = async (re: RegExp) => (await outreachRequests()).filter((r) => re.test(r.path));
const patches = async () => (await outreachRequests()).filter((r) => r.method === "PATCH").length;

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

describe("a pause", () => {
	it("gives back the bulk work the gate took but has not sent: nothing is sent until the resume, then all lands", { timeout: 120_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 }, prospects: prospects(70_000, 400) });
		// Another destination of the same Outreach user spends the window's budget first, so the gate holds the
		// burst it takes until the next window: the pause lands while the burst waits there.
		const spender = await createDestination({ name: "Spender" });
		await connectDestination(spender.id);
		await putMapping(spender.id, SEED_MAPPING);
		const d = await bulkDestination("Paused with work in the gate");
		await ingestOk(spender.id, spender.ingestToken, Array.from({ length: 100 }, (_, i) => profile(70_300 + i, "realized", `S${i}`)));
		await vi.waitUntil(async () => (await patches()) >= 60, { timeout: 20_000, interval: 100 });
		await burst(d, 70_000, 200);
		const gate = env.GATE.getByName(String(REP.id));
		await vi.waitUntil(async () => (await gate.bulkStatus(d.id)).waiting > 0, { timeout: 20_000, interval: 50 });
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		const pausedAt = Date.now();
		await vi.waitUntil(async () => (await activity(d.id)).totals.held === 200, { timeout: 30_000, interval: 200 });
		// A window and more later, nothing of the paused destination's went out.
		await new Promise((r) => setTimeout(r, 6_000));
		const sent = (await outreachRequests()).filter((r) => r.at > pausedAt && r.path.startsWith("/api/v2/imports"));
		expect(sent, "imports sent while paused").toHaveLength(0);
		expect((await prospectAttributes(70_000)).firstName).toBeUndefined();
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });
		const a = await settled(d.id, 80_000);
		expect(a.totals).toMatchObject({ received: 200, delivered: 200, held: 0, failed: 0 });
		expect((await prospectAttributes(70_199)).firstName).toBe("First-70199");
	});
});
