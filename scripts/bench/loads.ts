/**
 * The benchmark's loads, written as what AEP sends, deterministic from a seed (design.md, "Benchmark output"):
 *
 * - `backfill`: an activation's back-fill — every member of three activated segments (most profiles in
 *   several), with mapped attributes, spread over AEP's "hour" of back-fill (on the compressed clock: one
 *   window). About 3 % of profiles arrive out of order: a stale snapshot of a prospect (older qualification
 *   times, one status different) posted after the newer one. About 5 % of prospects change again later (a
 *   newer qualification and new attribute values, over the next three windows). Every attribute version has
 *   a value of its own, so the audit can tell attribute versions apart.
 * - `stream`: steady membership churn (and a few attribute changes) over prospects that already hold their
 *   statuses, at a share of the limit per window, for a number of windows.
 * - `backfill-bulk`: the back-fill with segments only (no attributes mapped), every profile in all three
 *   segments.
 * - `backfill-bulk-mixed`: `backfill` itself (the seed's mapping, the same out-of-order and later changes), at the
 *   size where a bulk path must carry both segments and attributes.
 *
 * A prospect's versions are never in one request, and `dependencies` (aep.ts) keeps a later version from being
 * sent before the request with the earlier one was answered: the arrival order of a prospect's versions is
 * then the planned order, and so is what the ordering contract expects.
 */
import { dependencies, fieldsOf, versionsOf, type AepProfile, type BenchMapping, type PlannedRequest, type SegmentStatus, type SentRequest } from "./aep.ts";
import { newestVersions } from "./audit.ts";
import { prng } from "./profiles.ts";

export type Scenario = "backfill" | "stream" | "backfill-bulk" | "backfill-bulk-mixed";

/** What each back-fill maps and who is in which segment (`backfillLoad`'s `attributes` and `allSegments`). */
/**
 * `requestSize`: profiles per AEP request. The HTTP API destination sends at most 10. A back-fill of
 * `backfill-bulk-mixed`'s size is what the Destination SDK package (aep/) is for: its configurable aggregation
 * sends 1,000 or more profiles a request; 100 stays well below that, in the profile shape the audit reads.
 */
export const BACKFILLS = {
	backfill: { attributes: true, allSegments: false, requestSize: 10 },
	"backfill-bulk": { attributes: false, allSegments: true, requestSize: 10 },
	"backfill-bulk-mixed": { attributes: true, allSegments: false, requestSize: 100 },
} as const satisfies Record<Exclude<Scenario, "stream">, { attributes: boolean; allSegments: boolean; requestSize: number }>;

export const BENCH_SEGMENTS = [
	{ segmentId: "6a4c2b8e-3f1d-4e5a-9b7c-0d2e4f6a8b01", mappingId: 4, name: "Visited pricing" },
	{ segmentId: "b7d9e1f3-5a6c-4b8d-8e0f-1a3c5e7f9b02", mappingId: 7, name: "Trial users" },
	{ segmentId: "c1e3a5b7-9d2f-4c6e-8a0b-2c4e6a8c0d03", mappingId: 9, name: "Enterprise accounts" },
] as const;

const ATTRIBUTES = [
	{ source: "person.name.firstName", target: "firstName" },
	{ source: "person.name.lastName", target: "lastName" },
];

export function benchMapping(attributes: boolean): BenchMapping {
	return { identityNamespace: "Oid", attributes: attributes ? ATTRIBUTES : [], segments: BENCH_SEGMENTS.map((s) => ({ ...s })) };
}

export type BenchLoad = {
	scenario: Scenario;
	mapping: BenchMapping;
	requests: PlannedRequest[];
	/** For each request, the earlier ones it must wait for (see aep.ts `dependencies`). */
	deps: number[][];
	/** Every prospect of the load with its attributes before the run: what the local Outreach is reset to. */
	initial: Map<number, Record<string, unknown>>;
	/** What the load is made of (for the log and the JSON's `config`). */
	shape: Record<string, number>;
};

/** When the segments were activated, in AEP's time: back-filled memberships qualified before it. */
const ACTIVATION = Date.UTC(2026, 10, 1);
const DAY = 86_400_000;
const FIRST_NAMES = ["Ann", "Bea", "Cal", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lea", "Max", "Nia", "Oli", "Pia"];
const LAST_NAMES = ["Adams", "Brook", "Chen", "Diaz", "Evans", "Ford", "Garcia", "Haas", "Ito", "Jones", "Khan", "Lopez", "Moss", "Novak"];

type Membership = { status: SegmentStatus; qualifiedAt: number };
/** A prospect as AEP sees it at one moment. */
type Snapshot = { id: number; memberships: Map<string, Membership>; name?: { firstName: string; lastName: string } };

function profileOf(s: Snapshot): AepProfile {
	const ups: AepProfile["segmentMembership"]["ups"] = {};
	for (const [segmentId, m] of s.memberships) ups[segmentId] = { status: m.status, lastQualificationTime: new Date(m.qualifiedAt).toISOString() };
	return {
		...(s.name ? { person: { name: { ...s.name } } } : {}),
		segmentMembership: { ups },
		identityMap: { ecid: [{ id: String(10n ** 30n + BigInt(s.id)) }], Oid: [{ id: String(s.id), primary: true }] },
	};
}

function shuffle<T>(items: T[], random: () => number): T[] {
	for (let i = items.length - 1; i > 0; i--) {
		const j = Math.floor(random() * (i + 1));
		[items[i], items[j]] = [items[j]!, items[i]!];
	}
	return items;
}

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]!;
const flip = (s: SegmentStatus): SegmentStatus => (s === "exited" ? "realized" : "exited");

/** Names whose every version is a value of its own: `Ann-4211-2` is prospect 4211's second version. */
function namer(random: () => number) {
	const versions = new Map<number, number>();
	return (id: number) => {
		const v = (versions.get(id) ?? 0) + 1;
		versions.set(id, v);
		return { firstName: `${pick(FIRST_NAMES, random)}-${id}-${v}`, lastName: `${pick(LAST_NAMES, random)}-${id}-${v}` };
	};
}

/**
 * Packs snapshots (in arrival order) into AEP requests of up to `size()` profiles, never two of one prospect in
 * a request; `at` gives each request's moment from its profiles' positions.
 */
function pack(items: { snapshot: Snapshot; at: number }[], size: () => number): PlannedRequest[] {
	const out: PlannedRequest[] = [];
	let current: { at: number; profiles: AepProfile[]; ids: Set<number>; cap: number } | null = null;
	for (const item of items) {
		if (!current || current.profiles.length >= current.cap || current.ids.has(item.snapshot.id)) {
			if (current) out.push({ at: current.at, profiles: current.profiles });
			current = { at: item.at, profiles: [], ids: new Set(), cap: size() };
		}
		current.profiles.push(profileOf(item.snapshot));
		current.ids.add(item.snapshot.id);
		current.at = Math.max(current.at, item.at);
	}
	if (current) out.push({ at: current.at, profiles: current.profiles });
	return out;
}

export type BackfillOptions = {
	/** Which back-fill it is (for `BenchLoad.scenario`); by default `backfill` or `backfill-bulk` after `attributes`. */
	scenario?: Exclude<Scenario, "stream">;
	/** Members of the activated segments: one prospect each, ids 1…members. */
	members: number;
	seed: number;
	/** AEP's "hour" of back-fill on the compressed clock (the window's length), ms. */
	hourMs: number;
	/** Map firstName and lastName (`backfill`) or segments only (`backfill-bulk`). */
	attributes: boolean;
	/** Every member in all three segments (`backfill-bulk`), else each in one to three. */
	allSegments: boolean;
	outOfOrderShare?: number;
	changeShare?: number;
	/** Profiles per request (see BACKFILLS); 10, as the HTTP API destination sends, when not given. */
	requestSize?: number;
};

export function backfillLoad(o: BackfillOptions): BenchLoad {
	const random = prng(o.seed);
	const names = namer(random);
	const outOfOrderShare = o.outOfOrderShare ?? 0.03;
	const changeShare = o.changeShare ?? 0.05;
	const ids = shuffle(Array.from({ length: o.members }, (_, i) => i + 1), random);
	const newest = new Map<number, Snapshot>();

	const backfill: Snapshot[] = ids.map((id) => {
		const memberships = new Map<string, Membership>();
		for (const s of BENCH_SEGMENTS)
			if (o.allSegments || random() < 0.6)
				memberships.set(s.segmentId, { status: random() < 0.85 ? "realized" : "exited", qualifiedAt: ACTIVATION - Math.floor(random() * 30 * DAY) - 3_600_000 });
		if (memberships.size === 0) memberships.set(pick(BENCH_SEGMENTS, random).segmentId, { status: "realized", qualifiedAt: ACTIVATION - Math.floor(random() * 30 * DAY) - 3_600_000 });
		const snapshot: Snapshot = { id, memberships, ...(o.attributes ? { name: names(id) } : {}) };
		newest.set(id, snapshot);
		return snapshot;
	});

	// The stale snapshots: older qualification times, one status different, posted 8–60 requests after the newer one.
	const order: (Snapshot | null)[] = [...backfill];
	const staleCount = Math.round(o.members * outOfOrderShare);
	const late: { snapshot: Snapshot; after: number }[] = [];
	for (const position of shuffle(Array.from({ length: o.members }, (_, i) => i), random).slice(0, staleCount)) {
		const fresh = backfill[position]!;
		const memberships = new Map<string, Membership>();
		for (const [segmentId, m] of fresh.memberships) memberships.set(segmentId, { status: m.status, qualifiedAt: m.qualifiedAt - 3_600_000 - Math.floor(random() * 5 * DAY) });
		const changed = pick([...memberships.keys()], random);
		memberships.get(changed)!.status = flip(memberships.get(changed)!.status);
		late.push({ snapshot: { id: fresh.id, memberships, ...(o.attributes ? { name: names(fresh.id) } : {}) }, after: position + 80 + Math.floor(random() * 520) });
	}
	late.sort((a, b) => a.after - b.after);
	const arrival: Snapshot[] = [];
	let l = 0;
	order.forEach((s, i) => {
		arrival.push(s!);
		while (l < late.length && late[l]!.after <= i) arrival.push(late[l++]!.snapshot);
	});
	while (l < late.length) arrival.push(late[l++]!.snapshot);
	const size = o.requestSize ?? 10;
	const backfillRequests = pack(arrival.map((snapshot) => ({ snapshot, at: 0 })), () => size);
	backfillRequests.forEach((r, i) => (r.at = Math.floor((i * o.hourMs) / backfillRequests.length)));

	// Later changes: a newer qualification of one segment (or a new membership) and new attribute values,
	// arriving over the three windows after the back-fill.
	const changeCount = Math.min(Math.round(o.members * changeShare), o.members);
	const changes: { snapshot: Snapshot; at: number }[] = [];
	const spanMs = 3 * o.hourMs;
	shuffle([...ids], random)
		.slice(0, changeCount)
		.forEach((id, k) => {
			const at = o.hourMs + Math.floor(((k + 0.5) * spanMs) / changeCount);
			const before = newest.get(id)!;
			const memberships = new Map([...before.memberships].map(([segmentId, m]) => [segmentId, { ...m }]));
			const segment = pick(BENCH_SEGMENTS, random).segmentId;
			const was = memberships.get(segment);
			memberships.set(segment, { status: was ? flip(was.status) : "realized", qualifiedAt: ACTIVATION + at + k });
			changes.push({ snapshot: { id, memberships, ...(o.attributes ? { name: names(id) } : {}) }, at });
		});
	const changeRequests = pack(changes, () => size);

	const requests = [...backfillRequests, ...changeRequests];
	const mapping = benchMapping(o.attributes);
	const initial = new Map<number, Record<string, unknown>>();
	for (const id of [...ids].sort((a, b) => a - b)) initial.set(id, o.attributes ? { firstName: `Was-${id}`, lastName: `Before-${id}` } : {});
	return {
		scenario: o.scenario ?? (o.attributes ? "backfill" : "backfill-bulk"),
		mapping,
		requests,
		deps: dependencies(requests, mapping),
		initial,
		shape: {
			members: o.members,
			outOfOrder: staleCount,
			laterChanges: changeCount,
			profiles: requests.reduce((n, r) => n + r.profiles.length, 0),
			requests: requests.length,
			aepHourSeconds: o.hourMs / 1000,
			arrivalSeconds: Math.round(requests[requests.length - 1]!.at / 100) / 10,
		},
	};
}

export type StreamOptions = {
	/** Prospects that may change, ids 1…pool; each holds its statuses and names before the run. */
	pool: number;
	seed: number;
	limit: number;
	windowMs: number;
	/** How many windows the stream lasts. */
	windows: number;
	/** Profiles per window as a share of the limit. */
	share: number;
};

export function streamLoad(o: StreamOptions): BenchLoad {
	const random = prng(o.seed);
	const names = namer(random);
	const current = new Map<number, Snapshot>();
	const initial = new Map<number, Record<string, unknown>>();
	for (let id = 1; id <= o.pool; id++) {
		const memberships = new Map<string, Membership>();
		const attributes: Record<string, unknown> = {};
		for (const s of BENCH_SEGMENTS) {
			if (random() >= 0.5) continue;
			const status: SegmentStatus = random() < 0.7 ? "realized" : "exited";
			memberships.set(s.segmentId, { status, qualifiedAt: ACTIVATION - Math.floor(random() * 30 * DAY) - 3_600_000 });
			attributes[`custom${s.mappingId}`] = status;
		}
		const name = names(id);
		Object.assign(attributes, name);
		current.set(id, { id, memberships, name });
		initial.set(id, attributes);
	}
	const events = Math.round(o.share * o.limit * o.windows);
	const span = o.windows * o.windowMs;
	const items: { snapshot: Snapshot; at: number }[] = [];
	for (let e = 0; e < events; e++) {
		const at = Math.floor(((e + 0.5) * span) / events);
		const id = 1 + Math.floor(random() * o.pool);
		const before = current.get(id)!;
		const next: Snapshot = { id, memberships: new Map([...before.memberships].map(([k, m]) => [k, { ...m }])), name: before.name! };
		if (random() < 0.85) {
			const segment = pick(BENCH_SEGMENTS, random).segmentId;
			const was = next.memberships.get(segment);
			next.memberships.set(segment, { status: was?.status === "realized" ? "exited" : "realized", qualifiedAt: ACTIVATION + at });
		} else next.name = names(id);
		current.set(id, next);
		items.push({ snapshot: next, at });
	}
	// AEP aggregates what changed in a moment: 1–10 profiles a request.
	const requests = pack(items, () => 1 + Math.floor(random() * 10));
	const mapping = benchMapping(true);
	return {
		scenario: "stream",
		mapping,
		requests,
		deps: dependencies(requests, mapping),
		initial,
		shape: { pool: o.pool, windows: o.windows, share: o.share, profiles: events, requests: requests.length, arrivalSeconds: Math.round(requests[requests.length - 1]!.at / 100) / 10 },
	};
}

/** The versions in the planned order (what arrival order becomes, given `deps`), for the expected final state. */
export function plannedVersions(load: BenchLoad) {
	const sent: SentRequest[] = load.requests.map((_, index) => ({ index, sentAt: index, answeredAt: index, status: 202, attempts: 1, accepted: 0, dropped: false }));
	return versionsOf(load.requests, sent, load.mapping);
}

/** Each prospect's expected final state: its initial attributes with each field's newest version applied. */
export function expectedState(load: BenchLoad): Map<number, Record<string, unknown>> {
	const expected = new Map([...load.initial].map(([id, a]) => [id, { ...a }]));
	for (const v of newestVersions(plannedVersions(load)).values()) (expected.get(v.prospectId) ?? expected.set(v.prospectId, {}).get(v.prospectId)!)[v.field] = v.value;
	return expected;
}

/** The fields the load sets for each prospect (what its final state is checked on). */
export function fieldsSet(load: BenchLoad): Map<number, Set<string>> {
	const out = new Map<number, Set<string>>();
	for (const r of load.requests)
		for (const p of r.profiles) {
			const { prospectId, fields } = fieldsOf(p, load.mapping);
			const set = out.get(prospectId) ?? out.set(prospectId, new Set()).get(prospectId)!;
			for (const f of fields) set.add(f.field);
		}
	return out;
}

/**
 * The computed `lowerBound`: `calls` = distinct prospects whose final state differs from their initial state
 * (one PATCH each sets all their fields); `windows` = ⌈calls ÷ limit⌉; `drainSeconds` = (windows − 1) × window.
 */
export function lowerBound(load: BenchLoad, limit: number, windowSeconds: number) {
	const expected = expectedState(load);
	let calls = 0;
	for (const [id, fields] of fieldsSet(load)) {
		const before = load.initial.get(id) ?? {};
		const after = expected.get(id)!;
		if ([...fields].some((f) => JSON.stringify(before[f] ?? null) !== JSON.stringify(after[f] ?? null))) calls++;
	}
	const windows = Math.ceil(calls / limit);
	return { calls, windows, drainSeconds: Math.max(0, windows - 1) * windowSeconds };
}

