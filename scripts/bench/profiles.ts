/**
 * The fault suite's load (test/faults/harness.ts): N AEP profiles over M prospects, deterministic from a seed.
 * Every prospect appears at least once; the rest repeat prospects at random, each with its own segment status
 * and a `lastQualificationTime` that is shuffled against the arrival order, so only a destination that orders
 * by qualification time (not by arrival) ends with the right value. The benchmark's own loads, written as AEP
 * sends them, are in loads.ts.
 */
import { seededRandom } from "../../local-outreach/random.ts";

export const SEGMENTS = [
	{ segmentId: "6a4c2b8e-3f1d-4e5a-9b7c-0d2e4f6a8b01", mappingId: 4 },
	{ segmentId: "b7d9e1f3-5a6c-4b8d-8e0f-1a3c5e7f9b02", mappingId: 7 },
] as const;

const STATUSES = ["realized", "exited", "existing"] as const;
type Status = (typeof STATUSES)[number];

/** The destination's mapping for this load: one identity namespace, two segments, one attribute. */
export const BENCH_MAPPING = {
	identityNamespace: "Oid",
	attributes: [{ source: "person.name.firstName", target: "firstName" }],
	segments: SEGMENTS.map((s) => ({ ...s, name: `bench segment ${s.mappingId}` })),
};

export type Profile = {
	person: { name: { firstName: string } };
	segmentMembership: { ups: Record<string, { status: Status; lastQualificationTime: string }> };
	identityMap: Record<string, { id: string; primary?: boolean }[]>;
};

export type Load = {
	profiles: Profile[];
	/** The prospect each profile is for, by index. */
	prospectOf: number[];
	/** Each prospect's expected final attributes (custom<mappingId> per segment seen, firstName). */
	expected: Map<number, Record<string, string>>;
	/**
	 * For each prospect, the index of the latest-qualified profile for each segment: the profiles whose arrival
	 * makes the final state knowable (used to time end-to-end latency).
	 */
	decisive: Map<number, number[]>;
};

/** mulberry32, the local Outreach's own seedable PRNG: the same seed gives the same load on every machine. */
export const prng = seededRandom;

function shuffle<T>(items: T[], random: () => number): T[] {
	for (let i = items.length - 1; i > 0; i--) {
		const j = Math.floor(random() * (i + 1));
		[items[i], items[j]] = [items[j]!, items[i]!];
	}
	return items;
}

/**
 * Generates the load for prospects `firstProspect` … `firstProspect + prospects - 1` (the local Outreach seeds
 * prospects 1–10000; the fault suite gives each scenario its own range).
 */
export function generateLoad(opts: { profiles: number; prospects: number; seed: number; firstProspect?: number }): Load {
	const { profiles: n, prospects: m, seed, firstProspect: FIRST_PROSPECT = 1 } = opts;
	if (m < 1 || FIRST_PROSPECT < 1 || FIRST_PROSPECT + m - 1 > 10_000)
		throw new Error("--prospects must be from 1 to 10000 (the local Outreach seeds prospects 1–10000)");
	if (n < m) throw new Error("--profiles must be at least --prospects (every prospect gets at least one profile)");
	const random = prng(seed);
	// Every prospect once, then repeats at random; then the whole arrival order is shuffled.
	const ids = Array.from({ length: m }, (_, i) => FIRST_PROSPECT + i);
	for (let i = m; i < n; i++) ids.push(FIRST_PROSPECT + Math.floor(random() * m));
	shuffle(ids, random);

	const base = Date.UTC(2026, 10, 1);
	const best = new Map<string, { t: number; index: number; status: Status }>();
	const profiles = ids.map((id, index): Profile => {
		const segment = SEGMENTS[Math.floor(random() * SEGMENTS.length)]!;
		const status = STATUSES[Math.floor(random() * STATUSES.length)]!;
		// Random within ten days; `+ index` ms keeps every time unique, so "the latest" is never a tie.
		const t = base + Math.floor(random() * 864_000) * 1000 + index;
		const key = `${id}:${segment.mappingId}`;
		const cur = best.get(key);
		if (!cur || t > cur.t) best.set(key, { t, index, status });
		return {
			// Constant per prospect: concurrent requests make arrival order (which attributes follow) unknowable to the client.
			person: { name: { firstName: `Prospect ${id}` } },
			segmentMembership: { ups: { [segment.segmentId]: { status, lastQualificationTime: new Date(t).toISOString() } } },
			identityMap: { ecid: [{ id: String(10n ** 30n + BigInt(id)) }], Oid: [{ id: String(id), primary: true }] },
		};
	});

	const expected = new Map<number, Record<string, string>>();
	const decisive = new Map<number, number[]>();
	for (const id of new Set(ids)) {
		expected.set(id, { firstName: `Prospect ${id}` });
		decisive.set(id, []);
	}
	for (const [key, b] of best) {
		const [id, mappingId] = key.split(":").map(Number) as [number, number];
		expected.get(id)![`custom${mappingId}`] = b.status;
		decisive.get(id)!.push(b.index);
	}
	return { profiles, prospectOf: ids, expected, decisive };
}
