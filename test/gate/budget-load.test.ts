import { beforeEach, describe, expect, it } from "vitest";
import { createConnectedDestination, outreachStats, resetOutreach } from "../helpers/control";
import { expectCountsAddUp, ingestOk, maxInAnyWindow, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";
import { auditHooks } from "../helpers/audit";

const SEGMENT = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const STATUSES = ["realized", "exited", "existing"] as const;

/** 600 profiles over 200 prospects, each prospect's qualification times shuffled so arrival order says nothing. */
function burst() {
	const profiles: unknown[] = [];
	const expected = new Map<number, { t: number; status: string }>();
	for (let i = 0; i < 600; i++) {
		const prospect = 1 + ((i * 7) % 200);
		const t = Date.UTC(2026, 10, 1) + ((i * 7919) % 600) * 60_000 + i; // unique, not monotonic in i
		const status = STATUSES[(i * 31) % 3]!;
		const best = expected.get(prospect);
		if (!best || t > best.t) expected.set(prospect, { t, status });
		profiles.push({
			person: { name: { firstName: `P${prospect}` } },
			segmentMembership: { ups: { [SEGMENT]: { status, lastQualificationTime: new Date(t).toISOString() } } },
			identityMap: { Oid: [{ id: String(prospect) }] },
		});
	}
	return { profiles, expected };
}


auditHooks();

describe("a burst larger than the budget (limit 100 per 5-second window)", () => {
	beforeEach(async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
	});

	it("delivers every prospect's newest state with no 429 and never more than 100 calls in any 5 s", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, {
			identityNamespace: "Oid",
			attributes: [{ source: "person.name.firstName", target: "firstName" }],
			segments: [{ segmentId: SEGMENT, mappingId: 4 }],
		});
		const { profiles, expected } = burst();
		const requests: unknown[][] = [];
		for (let i = 0; i < profiles.length; i += 10) requests.push(profiles.slice(i, i + 10));
		// As AEP does: several requests in flight at once.
		for (let i = 0; i < requests.length; i += 6) {
			const answers = await Promise.all(requests.slice(i, i + 6).map((body) => ingestOk(d.id, d.ingestToken, body)));
			for (const a of answers) expect(a.accepted).toBe(10);
		}

		const a = await settled(d.id, 120_000);
		expect(a.totals.received).toBe(600);
		expect(a.totals.failed).toBe(0);
		expect(a.totals.delivered + a.totals.superseded).toBe(600);
		expectCountsAddUp(a.totals);

		for (const [prospect, { status }] of expected) {
			expect((await prospectAttributes(prospect)).custom4, `prospect ${prospect}`).toBe(status);
		}
		const stats = await outreachStats();
		expect(stats.status429).toBe(0);
		const patches = (await outreachRequests()).filter((r) => r.method === "PATCH");
		expect(maxInAnyWindow(patches, 5_000)).toBeLessThanOrEqual(100);
		// Coalescing: fewer calls than updates.
		expect(patches.length).toBeLessThan(600);
	});

	it("a newer update of a prospect still waiting for its slot takes that slot: one PATCH lands both", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, {
			identityNamespace: "Oid",
			attributes: [{ source: "person.name.firstName", target: "firstName" }],
			segments: [{ segmentId: SEGMENT, mappingId: 4 }],
		});
		const profile = (prospect: number, firstName: string, status: string, at: string) => ({
			person: { name: { firstName } },
			segmentMembership: { ups: { [SEGMENT]: { status, lastQualificationTime: at } } },
			identityMap: { Oid: [{ id: String(prospect) }] },
		});
		// 200 other prospects, in one request, spend this window's 100 calls and book all of the next; 777 comes after
		// them, so its slot is two windows away: far beyond the few seconds before a slot in which the gate grants a
		// call ahead for its moment (after which a newer update could only follow it), however slowly a busy machine
		// takes requests.
		await ingestOk(d.id, d.ingestToken, Array.from({ length: 200 }, (_, k) => profile(1 + k, `Filler${k}`, "realized", "2026-11-01T10:00:00Z")));
		await ingestOk(d.id, d.ingestToken, profile(777, "Old", "realized", "2026-11-01T10:00:00Z"));
		// The consumer has taken it and it waits for a slot when the newer one arrives.
		await new Promise((r) => setTimeout(r, 1_500));
		const early = (await outreachRequests()).filter((r) => r.method === "PATCH" && r.path === "/api/v2/prospects/777");
		expect(early, "777 is still waiting for its slot when the newer update arrives").toHaveLength(0);
		await ingestOk(d.id, d.ingestToken, profile(777, "New", "exited", "2026-11-02T10:00:00Z"));

		const a = await settled(d.id, 120_000);
		expect(a.totals).toMatchObject({ received: 202, failed: 0 });
		expectCountsAddUp(a.totals);
		expect(await prospectAttributes(777)).toMatchObject({ firstName: "New", custom4: "exited" });
		const calls = (await outreachRequests()).filter((r) => r.method === "PATCH" && r.path === "/api/v2/prospects/777");
		expect(calls, "PATCHes of prospect 777").toHaveLength(1);
		expect((await outreachStats()).status429).toBe(0);
	});
});
