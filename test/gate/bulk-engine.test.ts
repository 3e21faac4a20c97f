import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { auditHooks } from "../helpers/audit";
import { resetOutreach } from "../helpers/control";
import { ingestOk, outreachRequests, prospectAttributes, settled } from "../helpers/data";
import { bulkDestination, bulkStats, expectNoUnfilteredBulk, member, patches } from "../helpers/bulk";

/**
 * The bulk API's economy when a back-fill arrives faster than Outreach's engine applies it (issue 21: calls ≤ 1 %
 * of the membership updates). The local Outreach applies 800 items a second for the org, one batch after
 * another; 8,000 segment writes (two segments, two statuses: four groups) arrive in about 6 s, 10 s of the
 * engine's work. A group sent while our earlier
 * batches keep the engine busy would only wait behind them in Outreach, its fields locked under a lease that
 * runs out while it waits: so groups keep filling while the engine is busy, and each batch is looked at when it
 * should be done, at the pace the engine showed.
 */

auditHooks();

beforeEach(() =>
	resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 }, bulk: { itemsPerSecond: 800 }, prospects: Array.from({ length: 4000 }, (_, i) => ({ id: 20_000 + i })) }),
);
afterEach(expectNoUnfilteredBulk);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a back-fill faster than Outreach's bulk engine", () => {
	it("gathers while the engine is busy and looks at each batch about when it should be done: a few dozen calls, none by PATCH", { timeout: 120_000 }, async () => {
		const d = await bulkDestination("Engine-bound");
		const statuses = ["realized", "exited"];
		for (let r = 0; r < 20; r++) {
			await ingestOk(d.id, d.ingestToken, Array.from({ length: 200 }, (_, i) => member(20_000 + r * 200 + i, statuses[i % 2]!, statuses[(i + r) % 2])));
			await sleep(250);
		}
		const a = await settled(d.id, 90_000);
		expect(a.totals).toMatchObject({ received: 4000, delivered: 4000, failed: 0 });
		expect((await prospectAttributes(23_999)).custom4).toBe("exited");
		expect(await patches(), "nothing fell back to PATCH: no batch waited out its lease behind our own").toBe(0);
		expect((await bulkStats()).bulk.items, "each write applied once").toBe(8000);
		const calls = (await outreachRequests()).filter((r) => r.path.startsWith("/api/v2/batch"));
		const sent = calls.filter((r) => r.method === "POST" && r.path.endsWith("prospectsBulkModify")).length;
		const looks = calls.filter((r) => r.method === "GET").length;
		const cancels = calls.filter((r) => r.path.endsWith("/actions/cancel")).length;
		// Shown when the test fails: when each call went, from the first.
		console.log(calls.map((c) => `${c.at - calls[0]!.at} ms ${c.method} ${c.path}`).join("\n"));
		expect(cancels, "batches given up").toBe(0);
		// Measured: 12 requests and 12–14 looks; before groups waited for the engine and looks followed its plan, 12 and 36.
		expect(looks, "looks at running batches: about one each").toBeLessThanOrEqual(sent + 6);
		expect(sent + looks, "bulk calls of every kind, for 8,000 segment writes").toBeLessThanOrEqual(32);
	});
});
