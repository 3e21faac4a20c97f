import { describe, expect, it } from "vitest";
import { bulkCarries, bulkWays, ENGINE_LEAD_MS, ENOUGH_TO_GO, FILL_QUIET_MS, gatherMs, groupReady, pathForBacklog, type Backlog } from "../../src/gate/path";

/** The rules for which way a destination's writes go (src/gate/path.ts), as pure functions. */

const quiet: Backlog = { offered: 1, waiting: 0, reserved: 0, arrivingPerWindow: 1, limit: 10_000 };
const ALL = "prospects.read prospects.write batches.read batches.write imports.read imports.write";

describe("the path follows the backlog of the Outreach user", () => {
	it("a lone change in a quiet hour goes by PATCH", () => {
		expect(pathForBacklog(quiet).path).toBe("patch");
	});

	it("PATCH while the waiting work drains within a window from now, bulk as soon as it does not", () => {
		expect(pathForBacklog({ ...quiet, offered: 4_000, waiting: 3_000, reserved: 3_000 }).path).toBe("patch");
		expect(pathForBacklog({ ...quiet, offered: 4_000, waiting: 3_000, reserved: 3_001 }).path).toBe("bulk");
	});

	it("updates arriving faster than the limit go in bulk even while each offer is small", () => {
		expect(pathForBacklog({ ...quiet, arrivingPerWindow: 10_000 }).path).toBe("patch");
		expect(pathForBacklog({ ...quiet, arrivingPerWindow: 10_001 }).path).toBe("bulk");
	});

	it("says why, with the numbers it chose by", () => {
		expect(pathForBacklog({ ...quiet, offered: 12_000 }).reason).toMatch(/12000 update\(s\) wait against 10000 calls a window: PATCH cannot drain them within the window/);
		expect(pathForBacklog({ ...quiet, arrivingPerWindow: 20_000 }).reason).toMatch(/about 20000 arrive per window/);
	});
});

describe("what a destination may use", () => {
	it("imports for records with attributes, the bulk API for segment-only updates, each only with its scopes", () => {
		const both = bulkWays({ bulkApi: true }, { status: "connected", scope: ALL });
		expect(both).toMatchObject({ modify: true, imports: true, reason: "" });
		expect(bulkCarries(both, true)).toBe("modify");
		expect(bulkCarries(both, false)).toBe("import");
		const noImports = bulkWays({ bulkApi: true }, { status: "connected", scope: "prospects.write batches.read batches.write" });
		expect(noImports.reason).toMatch(/imports\.read and imports\.write.*reconnect/);
		expect(bulkCarries(noImports, false)).toBeNull();
		expect(bulkCarries(noImports, true)).toBe("modify");
	});

	it("a fallback turns its path off until it ends, and says so", () => {
		const until = Date.UTC(2026, 11, 6, 12, 0);
		const ways = bulkWays({ bulkApi: true }, { status: "connected", scope: ALL }, { modify: null, imports: { reason: "Outreach's daily import quota is used up", until } });
		expect(ways).toMatchObject({ modify: true, imports: false });
		expect(ways.reason).toMatch(/import quota is used up \(until 2026-12-06 12:00 UTC\)/);
		expect(bulkCarries(ways, false)).toBeNull();
	});

	it("nothing in bulk with the switch off or without a connection", () => {
		expect(bulkWays({ bulkApi: false }, { status: "connected", scope: ALL })).toMatchObject({ modify: false, imports: false });
		expect(bulkWays({ bulkApi: true }, null)).toMatchObject({ modify: false, imports: false });
	});
});

describe("a bulk group waits only while it is still filling", () => {
	const now = 1_000_000;
	it("goes at once when full", () => {
		expect(groupReady({ size: 1000, max: 1000, oldestAt: now, newestAt: now }, now, 3600)).toBe(true);
	});

	it("goes once no write joined it for a moment", () => {
		expect(groupReady({ size: 3, max: 1000, oldestAt: now - 100, newestAt: now - 100 }, now, 3600)).toBe(now - 100 + FILL_QUIET_MS);
		expect(groupReady({ size: 3, max: 1000, oldestAt: now - FILL_QUIET_MS, newestAt: now - FILL_QUIET_MS }, now, 3600)).toBe(true);
	});

	it("never waits more than a minute's share of the window, and never a fixed share of it", () => {
		expect(gatherMs(3600)).toBe(30_000);
		expect(gatherMs(10)).toBe(1_500);
		// Writes keep joining: it goes when the cap is reached, not a quarter window (15 minutes) later.
		expect(groupReady({ size: 10, max: 1000, oldestAt: now - 30_000, newestAt: now }, now, 3600)).toBe(true);
	});

	it("while our earlier jobs keep Outreach's engine busy, keeps filling past its cap until the engine is about free, at most until its hold ends", () => {
		// Writes keep joining, and it has gathered as long as it may on its own.
		const filling = { size: 10, max: 1000, oldestAt: now - 30_000, newestAt: now };
		expect(groupReady(filling, now, 3600)).toBe(true);
		// The engine is busy for 20 s more: it waits while writes keep joining (each one moves its quiet moment on).
		expect(groupReady(filling, now, 3600, { freeAt: now + 20_000, holdUntil: now + 60_000 })).toBe(now + FILL_QUIET_MS);
		expect(groupReady({ ...filling, newestAt: now + 19_000 }, now + 19_000, 3600, { freeAt: now + 20_000, holdUntil: now + 60_000 })).toBe(now + 20_000 - ENGINE_LEAD_MS);
		expect(groupReady(filling, now, 3600, { freeAt: now + 20_000, holdUntil: now + 500 })).toBe(now + 500);
		// An engine about free, or free already: the group's own cap.
		expect(groupReady(filling, now, 3600, { freeAt: now + ENGINE_LEAD_MS, holdUntil: now + 60_000 })).toBe(true);
		// It does not hold a group that stopped filling, nor a full one.
		expect(groupReady({ ...filling, newestAt: now - FILL_QUIET_MS }, now, 3600, { freeAt: now + 20_000, holdUntil: now + 60_000 })).toBe(true);
		expect(groupReady({ ...filling, size: 1000 }, now, 3600, { freeAt: now + 20_000, holdUntil: now + 60_000 })).toBe(true);
		// Nor one large enough that waiting saves next to nothing: it goes at its own cap, and queues in Outreach.
		expect(groupReady({ ...filling, size: ENOUGH_TO_GO, max: 10_000 }, now, 3600, { freeAt: now + 20_000, holdUntil: now + 60_000 })).toBe(true);
	});
});
