import { describe, expect, it } from "vitest";
import { fieldsOf, sendLoad, versionsOf, type PlannedRequest } from "../../../scripts/bench/aep.ts";
import { figuresOf, type Truth } from "../../../scripts/bench/figures.ts";
import { backfillLoad, expectedState, lowerBound, streamLoad, type BenchLoad } from "../../../scripts/bench/loads.ts";
import { outreachWindows } from "../../../scripts/bench/stats.ts";
import { renderTable, resultIn } from "../../../scripts/bench/table.ts";

const backfill = (members = 4200, seed = 42) => backfillLoad({ members, seed, hourMs: 10_000, attributes: true, allSegments: false });

/** Every profile of the load with its request's index and its position, in planned order. */
function profilesOf(load: BenchLoad) {
	return load.requests.flatMap((r, request) => r.profiles.map((p, position) => ({ request, position, ...fieldsOf(p, load.mapping) })));
}

describe("the backfill load", () => {
	const load = backfill();

	it("is the same for the same seed, and another for another seed", () => {
		expect(JSON.stringify(backfill(300, 7).requests)).toBe(JSON.stringify(backfill(300, 7).requests));
		expect(JSON.stringify(backfill(300, 7).requests)).not.toBe(JSON.stringify(backfill(300, 8).requests));
	});

	it("is sized for at least 20 windows of backlog at the default clock (200 calls per 10 s)", () => {
		const bound = lowerBound(load, 200, 10);
		expect(bound.calls).toBe(4200);
		expect(bound.windows).toBeGreaterThanOrEqual(20);
		expect(bound.drainSeconds).toBe((bound.windows - 1) * 10);
	});

	it("posts at most 10 profiles a request, never two of one prospect in a request, within AEP's hour and the three windows after", () => {
		for (const r of load.requests) {
			expect(r.profiles.length).toBeLessThanOrEqual(10);
			const ids = r.profiles.map((p) => fieldsOf(p, load.mapping).prospectId);
			expect(new Set(ids).size).toBe(ids.length);
			expect(r.at).toBeLessThan(40_000);
		}
		const times = load.requests.map((r) => r.at);
		expect(times).toEqual([...times].sort((a, b) => a - b));
	});

	it("puts most profiles in several segments and gives every attribute version a value of its own", () => {
		const all = profilesOf(load);
		const several = all.filter((p) => p.fields.filter((f) => f.kind === "segment").length >= 2).length;
		expect(several / all.length).toBeGreaterThan(0.5);
		const values = new Map<string, Set<unknown>>();
		let versions = 0;
		for (const p of all)
			for (const f of p.fields.filter((f) => f.kind === "attribute")) {
				versions++;
				const key = `${p.prospectId}:${f.field}`;
				(values.get(key) ?? values.set(key, new Set()).get(key)!).add(f.value);
			}
		expect([...values.values()].reduce((n, s) => n + s.size, 0)).toBe(versions);
	});

	it("has about 3 % of profiles arriving out of order and at most 5 % of prospects changing again later", () => {
		const all = profilesOf(load);
		const newest = new Map<string, number>();
		let outOfOrder = 0;
		for (const p of all) {
			let late = false;
			for (const f of p.fields.filter((f) => f.kind === "segment")) {
				const key = `${p.prospectId}:${f.field}`;
				if ((newest.get(key) ?? -Infinity) > f.qualifiedAt!) late = true;
				newest.set(key, Math.max(newest.get(key) ?? -Infinity, f.qualifiedAt!));
			}
			if (late) outOfOrder++;
		}
		expect(outOfOrder / all.length).toBeGreaterThan(0.02);
		expect(outOfOrder / all.length).toBeLessThan(0.04);
		const afterHour = all.filter((p) => load.requests[p.request]!.at >= 10_000);
		expect(new Set(afterHour.map((p) => p.prospectId)).size / load.initial.size).toBeLessThanOrEqual(0.05);
		expect(afterHour.length).toBeGreaterThan(0);
	});

	it("makes a request wait for every earlier request with one of its prospects", () => {
		const lastWith = new Map<number, number>();
		load.requests.forEach((r, i) => {
			for (const p of r.profiles) {
				const id = fieldsOf(p, load.mapping).prospectId;
				if (lastWith.has(id)) expect(load.deps[i]).toContain(lastWith.get(id));
				lastWith.set(id, i);
			}
		});
	});

	it("expects each segment's latest-qualified status and each attribute's last-arrived value", () => {
		const expected = expectedState(load);
		const all = profilesOf(load);
		for (const id of [1, 2, 3, ...new Set(all.filter((p) => load.requests[p.request]!.at >= 10_000).map((p) => p.prospectId))].slice(0, 50)) {
			const mine = all.filter((p) => p.prospectId === id);
			const last = mine[mine.length - 1]!.fields.find((f) => f.field === "firstName")!.value;
			expect(expected.get(id)!.firstName).toBe(last);
			const bySegment = new Map<string, { at: number; value: unknown }>();
			for (const p of mine)
				for (const f of p.fields.filter((f) => f.kind === "segment"))
					if ((bySegment.get(f.field)?.at ?? -Infinity) < f.qualifiedAt!) bySegment.set(f.field, { at: f.qualifiedAt!, value: f.value });
			for (const [field, v] of bySegment) expect(expected.get(id)![field]).toBe(v.value);
		}
	});
});

describe("the other loads", () => {
	it("backfill-bulk maps segments only and puts every member in all three", () => {
		const load = backfillLoad({ members: 20_000, seed: 42, hourMs: 10_000, attributes: false, allSegments: true });
		expect(load.mapping.attributes).toEqual([]);
		expect(load.initial.size).toBe(20_000);
		for (const r of load.requests.slice(0, 50)) for (const p of r.profiles) expect(fieldsOf(p, load.mapping).fields).toHaveLength(3);
	});

	it("stream churns at the asked share of the limit per window, over prospects that already hold statuses", () => {
		const load = streamLoad({ pool: 3000, seed: 42, limit: 200, windowMs: 10_000, windows: 15, share: 0.8 });
		const perWindow = new Map<number, number>();
		for (const r of load.requests) perWindow.set(Math.floor(r.at / 10_000), (perWindow.get(Math.floor(r.at / 10_000)) ?? 0) + r.profiles.length);
		expect([...perWindow.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i));
		for (const n of perWindow.values()) expect(Math.abs(n - 160)).toBeLessThanOrEqual(12);
		expect([...load.initial.values()].filter((a) => "custom4" in a).length).toBeGreaterThan(1000);
		const bound = lowerBound(load, 200, 10);
		expect(bound.calls).toBeLessThan(2400); // prospects changed back, and repeats, need no call of their own
	});
});

describe("AEP's sender", () => {
	it("never has two versions of a prospect in flight, keeps their order, and follows the schedule", async () => {
		const load = backfill(120, 3);
		const inFlight = new Set<number>();
		const order: number[] = [];
		const startedAt = Date.now();
		const schedule = load.requests.map((r) => ({ ...r, at: Math.floor(r.at / 100) })); // 100 × faster
		const { sent } = await sendLoad(schedule, load.deps, {
			concurrency: 4,
			retryDelaysMs: [1, 2],
			deliver: async (r: PlannedRequest, index) => {
				expect(Date.now() - startedAt).toBeGreaterThanOrEqual(r.at - 1);
				const ids = r.profiles.map((p) => fieldsOf(p, load.mapping).prospectId);
				for (const id of ids) expect(inFlight.has(id)).toBe(false);
				ids.forEach((id) => inFlight.add(id));
				order.push(index);
				await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
				ids.forEach((id) => inFlight.delete(id));
				return { status: 202, accepted: r.profiles.length };
			},
		});
		expect(sent.every((s) => s.status === 202 && !s.dropped)).toBe(true);
		for (const [i, deps] of load.deps.entries()) for (const d of deps) expect(order.indexOf(d)).toBeLessThan(order.indexOf(i));
	});

	it("retries a failed request twice, then drops it", async () => {
		const requests: PlannedRequest[] = [{ at: 0, profiles: [] }];
		let calls = 0;
		const { sent } = await sendLoad(requests, [[]], { concurrency: 1, retryDelaysMs: [1, 2], deliver: async () => (calls++, { status: 503, accepted: 0 }) });
		expect(calls).toBe(3);
		expect(sent[0]).toMatchObject({ attempts: 3, dropped: true, accepted: 0, status: 503 });
	});
});

describe("the figures", () => {
	it("opens Outreach's windows at the first call after the previous one ended", () => {
		expect(outreachWindows([0, 5, 9, 10, 12, 25, 26], 10)).toEqual([
			{ start: 0, end: 10, calls: 3 },
			{ start: 10, end: 20, calls: 2 },
			{ start: 25, end: 35, calls: 2 },
		]);
	});

	it("come from the local Outreach's logs and final state", () => {
		const load = backfill(30, 5);
		const t0 = 1_000_000;
		const sent = load.requests.map((_, index) => ({ index, sentAt: t0 + index * 10, answeredAt: t0 + index * 10 + 5, status: 202, attempts: 1, accepted: 10, dropped: false }));
		const versions = versionsOf(load.requests, sent, load.mapping);
		const expected = expectedState(load);
		// A strategy that wrote every version in arrival order, one PATCH per profile, 3 calls per 1-second window.
		const writes = versions.map((v, i) => ({ at: t0 + 50 + i * 100, prospectId: v.prospectId, field: v.field, value: v.value, via: "patch" as const }));
		expect(writes.every((w, i) => w.at >= versions[i]!.arrivedAt)).toBe(true);
		const patches = profilesOf(load).map((_, i) => ({ at: t0 + Math.floor(i / 3) * 1000, userId: 1, method: "PATCH", path: `/api/v2/prospects/${i + 1}`, status: 200 }));
		const truth: Truth = {
			writes,
			requests: [...patches, { at: t0, userId: 1, method: "PATCH", path: "/api/v2/prospects/1", status: 429 }],
			stats: { status429: 1, usage: [], requests: {} },
			finals: new Map([...expected].map(([id, a]) => [id, { ...a }])),
		};
		// One prospect left with its initial name: lost.
		truth.finals.get(3)!.firstName = "Was-3";
		const { figures, details } = figuresOf(load, { drainSeconds: 10 }, { limit: 3, windowSeconds: 1, bulkScenario: false }, { userId: 1, sent, updates: 33, failed: 0, timedOut: false, ingest: true, work: null }, truth);
		expect(figures.patchCalls).toBe(patches.length + 1);
		expect(figures.status429).toBe(1);
		expect(figures.lost).toBe(1);
		expect(details.wrong).toEqual([{ id: 3, field: "firstName", expected: expected.get(3)!.firstName, actual: "Was-3" }]);
		// Arrival order over out-of-order segment versions writes some older statuses over newer ones.
		expect(figures.staleWrites).toBe(details.stale.length);
		expect(figures.unknownWrites).toBe(0);
		expect(figures.windowUse.mean).toBe(1);
		expect(figures.drainSeconds).toBe(Math.round((writes[writes.length - 1]!.at - t0) / 100) / 10);
		expect(figures.ingestP50Ms).toBe(5);
		expect(figures.gateCallsPerPatch).toBeNull();
	});

	it("draw a table from the JSON line alone", () => {
		const f = { profiles: 1, updates: 1, distinctProspects: 1, patchCalls: 1, bulkCalls: 0, pollCalls: 0, status429: 0, drainSeconds: 0, drainRatio: null, windowUse: { mean: null, min: null, windows: 1 }, lost: 0, failed: 0, staleWrites: 0, unknownWrites: 0, ingestP50Ms: 10, ingestP99Ms: 20, ingestOver2s: 0, e2eP50Ms: 5, e2eP99Ms: 9, gateCallsPerPatch: 0.5, ledgerCallsPerUpdate: 1, queueMessagesPerUpdate: 1 };
		const line = JSON.stringify({ scenario: "backfill", config: { limit: 200, windowSeconds: 10 }, backlogWindows: 1, lowerBound: { calls: 1, windows: 1, drainSeconds: 0 }, ours: f, aepNative: null, isolateLimiter: null });
		const table = renderTable(resultIn(`noise\n| table |\n${line}\n`)!);
		expect(table).toContain("| ingestP50Ms / ingestP99Ms |");
		expect(table).toMatch(/\|\s+ours \| lowerBound \|/);
	});
});
