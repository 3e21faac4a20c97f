import { describe, expect, it } from "vitest";
import { fieldsOf, sendLoad, versionsOf, type PlannedRequest } from "../../../scripts/bench/aep.ts";
import { newestVersions } from "../../../scripts/bench/audit.ts";
import { figuresOf, type Truth } from "../../../scripts/bench/figures.ts";
import { BACKFILLS, backfillLoad, expectedState, lowerBound, streamLoad, type BenchLoad } from "../../../scripts/bench/loads.ts";
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
	it("backfill-bulk-mixed is the backfill at 100,000 members: the seed's mapping, out-of-order and later changes, a value per attribute version", () => {
		const load = backfillLoad({ members: 100_000, seed: 42, hourMs: 10_000, scenario: "backfill-bulk-mixed", ...BACKFILLS["backfill-bulk-mixed"] });
		expect(load.scenario).toBe("backfill-bulk-mixed");
		expect(load.mapping.attributes).toEqual([
			{ source: "person.name.firstName", target: "firstName" },
			{ source: "person.name.lastName", target: "lastName" },
		]);
		expect(load.mapping.segments).toHaveLength(3);
		expect(load.initial.size).toBe(100_000);
		expect(load.shape).toMatchObject({ members: 100_000, outOfOrder: 3000, laterChanges: 5000, profiles: 108_000 });
		// Every profile carries both names, and no two versions of a prospect's attribute share a value.
		const seen = new Set<string>();
		let versions = 0;
		let withoutBoth = 0;
		for (const r of load.requests)
			for (const p of r.profiles) {
				const { prospectId, fields } = fieldsOf(p, load.mapping);
				const names = fields.filter((f) => f.kind === "attribute");
				if (names.map((f) => f.field).join() !== "firstName,lastName") withoutBoth++;
				for (const f of names) seen.add(`${prospectId}:${f.field}:${String(f.value)}`);
				versions += names.length;
			}
		expect(withoutBoth).toBe(0);
		expect(seen.size).toBe(versions);
		// Every prospect's names change, so the PATCH-only bound is one call per prospect: 500 windows at 200.
		expect(lowerBound(load, 200, 10)).toEqual({ calls: 100_000, windows: 500, drainSeconds: 4990 });
	});

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

	it("sends nothing more once stopped, and leaves no request waiting on one it skipped", async () => {
		const load = backfill(300, 4);
		let delivered = 0;
		const { sent } = await sendLoad(
			load.requests.map((r) => ({ ...r, at: 0 })),
			load.deps,
			{ concurrency: 4, retryDelaysMs: [], stopped: () => delivered >= 10, deliver: async (r) => (delivered++, { status: 202, accepted: r.profiles.length }) },
		);
		// At most the requests already taken when the stop came (one per sender) go out after it.
		expect(delivered).toBeGreaterThanOrEqual(10);
		expect(delivered).toBeLessThan(14);
		expect(sent.filter(Boolean)).toHaveLength(delivered);
		expect(sent.length).toBeLessThan(load.requests.length);
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
		const { figures, details } = figuresOf(load, { drainSeconds: 10 }, { limit: 3, windowSeconds: 1, bulkApi: false }, { userId: 1, sent, updates: 33, failed: 0, timedOut: false, ingest: true, work: null }, truth);
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
		// Bulk off: none of the bulk path's figures.
		expect(figures).not.toHaveProperty("importCalls");
		expect(figures).not.toHaveProperty("unfilteredRequests");
	});

	it("with bulk on, count import calls from the request log, created prospects from the stats, and every call per prospect", () => {
		const load = backfill(40, 6);
		const t0 = 2_000_000;
		const sent = load.requests.map((_, index) => ({ index, sentAt: t0 + index * 10, answeredAt: t0 + index * 10 + 5, status: 202, attempts: 1, accepted: 10, dropped: false }));
		const versions = versionsOf(load.requests, sent, load.mapping);
		const expected = expectedState(load);
		// Each field's newest version once — attributes by import, statuses by bulk — and then one import
		// re-applies a prospect's older first name (stale, whatever carried it).
		const writes = [...newestVersions(versions).values()].map((v, i) => ({ at: t0 + 10_000 + i, prospectId: v.prospectId, field: v.field, value: v.value, ...(v.field.startsWith("custom") ? { via: "bulk" as const, batchId: 1 } : { via: "import" as const, importId: 1 + (i % 3) }) }));
		const firstName = versions.filter((v) => v.field === "firstName");
		const twice = firstName.find((v, i) => firstName.findIndex((w) => w.prospectId === v.prospectId) !== i)!;
		const older = firstName.find((v) => v.prospectId === twice.prospectId)!;
		writes.push({ at: t0 + 20_000, prospectId: older.prospectId, field: "firstName", value: older.value, via: "import", importId: 7 });
		const user = (path: string, method: string, status = 200, userId: number | null = 1) => ({ at: t0 + 10_000, userId, method, path, status });
		const truth: Truth = {
			writes,
			requests: [
				user("/api/v2/users/me", "GET"),
				user("/api/v2/batches/actions/prospectsBulkModify", "POST"),
				user("/api/v2/batches/1", "GET"),
				user("/api/v2/imports/actions/bulkUpsert", "POST"),
				user("/api/v2/imports/actions/bulkUpsert", "POST", 429),
				user("/api/v2/imports/1", "GET"),
				user("/api/v2/imports/1", "GET"),
				user(`/api/v2/prospects/${twice.prospectId}`, "PATCH"),
				// Another user's import is not ours.
				user("/api/v2/imports/actions/bulkUpsert", "POST", 200, 2),
			],
			stats: { status429: 1, usage: [], requests: {}, bulk: { requests: 1, items: 3, unfilteredRequests: 0, quota429: 0 }, imports: { requests: 2, records: 80, created: 2, quota429: 0 } },
			finals: new Map([...expected].map(([id, a]) => [id, { ...a }])),
		};
		truth.finals.get(older.prospectId)!.firstName = older.value;
		const { figures, details } = figuresOf(load, { drainSeconds: 10 }, { limit: 200, windowSeconds: 10, bulkApi: true }, { userId: 1, sent, updates: 44, failed: 0, timedOut: false, ingest: true, work: null }, truth);
		expect(figures.importCalls).toBe(4);
		expect(figures.createdProspects).toBe(2);
		expect(figures.bulkCalls).toBe(1);
		expect(figures.pollCalls).toBe(1);
		expect(figures.patchCalls).toBe(1);
		expect(figures.distinctProspects).toBe(40);
		expect(figures.callsPerProspect).toBe(8 / 40);
		expect(figures.unfilteredRequests).toBe(0);
		expect(figures.staleWrites).toBe(1);
		expect(figures.unknownWrites).toBe(0);
		expect(details.stale[0]).toMatchObject({ prospectId: older.prospectId, field: "firstName", via: "import", importId: 7 });
		expect(figures.lost).toBe(1);
	});

	it("show the bulk path's figures in the table, and name stream --bulk", () => {
		const f = { profiles: 1, updates: 1, distinctProspects: 1, patchCalls: 1, bulkCalls: 0, pollCalls: 0, status429: 0, drainSeconds: 0, drainRatio: null, windowUse: { mean: null, min: null, windows: 1 }, lost: 0, failed: 0, staleWrites: 0, unknownWrites: 0, ingestP50Ms: 10, ingestP99Ms: 20, ingestOver2s: 0, e2eP50Ms: 5, e2eP99Ms: 9, gateCallsPerPatch: 0.5, ledgerCallsPerUpdate: 1, queueMessagesPerUpdate: 1 };
		const bulk = { ...f, unfilteredRequests: 0, membershipUpdates: 3, callsPerMembershipUpdate: 0.3333, importCalls: 7, createdProspects: 0, callsPerProspect: 0.0123 };
		const line = JSON.stringify({ scenario: "stream", config: { limit: 200, windowSeconds: 10, bulkApi: true }, backlogWindows: 1, lowerBound: { calls: 1, windows: 1, drainSeconds: 0 }, ours: bulk, aepNative: f, isolateLimiter: f });
		const table = renderTable(resultIn(line)!);
		expect(table).toMatch(/^stream --bulk: 200 calls per 10 s window/);
		expect(table).toMatch(/\| importCalls\s+\|\s+7 \|\s+— \|\s+— \|/);
		expect(table).toMatch(/\| createdProspects\s+\|\s+0 \|/);
		expect(table).toMatch(/\| callsPerProspect\s+\|\s+0\.0123 \|/);
	});

	it("draw a table from the JSON line alone", () => {
		const f = { profiles: 1, updates: 1, distinctProspects: 1, patchCalls: 1, bulkCalls: 0, pollCalls: 0, status429: 0, drainSeconds: 0, drainRatio: null, windowUse: { mean: null, min: null, windows: 1 }, lost: 0, failed: 0, staleWrites: 0, unknownWrites: 0, ingestP50Ms: 10, ingestP99Ms: 20, ingestOver2s: 0, e2eP50Ms: 5, e2eP99Ms: 9, gateCallsPerPatch: 0.5, ledgerCallsPerUpdate: 1, queueMessagesPerUpdate: 1 };
		const line = JSON.stringify({ scenario: "backfill", config: { limit: 200, windowSeconds: 10 }, backlogWindows: 1, lowerBound: { calls: 1, windows: 1, drainSeconds: 0 }, ours: f, aepNative: null, isolateLimiter: null });
		const table = renderTable(resultIn(`noise\n| table |\n${line}\n`)!);
		expect(table).toContain("| ingestP50Ms / ingestP99Ms |");
		expect(table).toMatch(/\|\s+ours \| lowerBound \|/);
	});
});
