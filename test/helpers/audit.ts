import { env } from "cloudflare:test";
import { afterEach, expect } from "vitest";
import { auditWrites, rankOfAttribute, rankOfSegment, type AppliedWrite, type Version } from "../../scripts/bench/audit";

/**
 * The write audit of delivery, fault and replay tests: every version a test ingested is recorded here, with
 * its rank by the ordering contract (design: "Which value wins"), computed from what the test sent — not by
 * the product — and the moment it was sent. Two requests sent in the same millisecond rank equal: the contract
 * orders them by update id, which only the product knows, so either may win. After the test, the local Outreach's write log (`GET
 * /__fake/writes`, the order in which values actually landed) is audited: no write may set a field back to an
 * older version, and none may write a value that no version had by then.
 */

type MappingShape = {
	identityNamespace: string;
	attributes?: { source: string; target: string }[];
	segments?: { segmentId: string; mappingId: number }[];
	statusValues?: { realized?: string; existing?: string; exited?: string };
};

/** What was ingested; `observedAt` and the destination decide the rank when two destinations write one field. */
const versions: (Version & { destinationId: string; observedAt: number; position: number; revision: number; status?: string })[] = [];
/** Each destination's mapping and the revision each field is under, as the test set them. */
const mappings = new Map<string, { mapping: MappingShape; revisions: Map<string, number> }>();

/** Forgets every recorded version (the local Outreach was reset: its write log too). */
export function resetAudit(): void {
	versions.length = 0;
}

/** Records the destination's new mapping: fields whose source changed move to their next revision. */
export function noteMapping(destinationId: string, mapping: MappingShape): void {
	const before = mappings.get(destinationId);
	const sources = (m: MappingShape | undefined) =>
		new Map<string, string>([
			...(m?.segments ?? []).map((s): [string, string] => [`custom${s.mappingId}`, `segment ${s.segmentId}`]),
			...(m?.attributes ?? []).map((a): [string, string] => [a.target, `attribute ${a.source}`]),
		]);
	const old = sources(before?.mapping);
	const now = sources(mapping);
	const revisions = new Map(before?.revisions ?? []);
	if (before) for (const field of new Set([...old.keys(), ...now.keys()])) if (old.get(field) !== now.get(field)) revisions.set(field, (revisions.get(field) ?? 0) + 1);
	mappings.set(destinationId, { mapping, revisions });
	// New status words do not make a field's versions newer: a replay after the fix writes the same version in
	// its new word, at the same rank, so that word is a value the version has from now on.
	if (before)
		for (const v of [...versions])
			if (v.destinationId === destinationId && v.status && (revisions.get(v.field) ?? 0) === v.revision && old.get(v.field) === now.get(v.field)) {
				const renamed = word(mapping, v.status);
				if (renamed !== v.value) versions.push({ ...v, value: renamed, arrivedAt: Date.now() });
			}
}

function word(mapping: MappingShape, status: string): string {
	const w = mapping.statusValues ?? {};
	if (status === "existing") return w.existing ?? w.realized ?? "existing";
	return (status === "realized" ? w.realized : status === "exited" ? w.exited : undefined) ?? status;
}

function readPath(profile: unknown, path: string): unknown {
	let node = profile;
	for (const key of path.split(".")) {
		if (node === null || typeof node !== "object" || !Object.hasOwn(node, key)) return undefined;
		node = (node as Record<string, unknown>)[key];
	}
	return node;
}

/** The versions one request of `profiles` carries for a destination, sent at `sentAt`. */
export function noteIngest(destinationId: string, profiles: unknown[], sentAt: number): void {
	const known = mappings.get(destinationId);
	if (!known) return;
	const { mapping, revisions } = known;
	profiles.forEach((profile, position) => {
		const ids = readPath(profile, `identityMap.${mapping.identityNamespace}`);
		const first = Array.isArray(ids) ? (ids.find((e) => (e as { primary?: boolean }).primary) ?? ids[0]) : undefined;
		const prospectId = Number(String((first as { id?: unknown } | undefined)?.id ?? "").trim());
		if (!Number.isSafeInteger(prospectId) || prospectId <= 0) return;
		const observedAt = sentAt;
		for (const s of mapping.segments ?? []) {
			const field = `custom${s.mappingId}`;
			for (const ns of Object.values((readPath(profile, "segmentMembership") ?? {}) as Record<string, Record<string, unknown>>)) {
				const m = ns && Object.hasOwn(ns, s.segmentId) ? (ns[s.segmentId] as { status?: string; lastQualificationTime?: string }) : undefined;
				if (!m?.status) continue;
				const t = m.lastQualificationTime ? Date.parse(m.lastQualificationTime) : NaN;
				versions.push({
					prospectId,
					field,
					value: word(mapping, m.status),
					rank: rankOfSegment({ revision: revisions.get(field) ?? 0, ...(Number.isNaN(t) ? {} : { qualifiedAt: t }), observedAt, position }),
					arrivedAt: sentAt,
					destinationId,
					observedAt,
					position,
					revision: revisions.get(field) ?? 0,
					status: m.status,
				});
			}
		}
		for (const a of mapping.attributes ?? []) {
			const value = readPath(profile, a.source);
			if (value === undefined) continue;
			versions.push({
				prospectId,
				field: a.target,
				value: typeof value === "number" || typeof value === "boolean" ? String(value) : value,
				rank: rankOfAttribute({ revision: revisions.get(a.target) ?? 0, observedAt, position }),
				arrivedAt: sentAt,
				destinationId,
				observedAt,
				position,
				revision: revisions.get(a.target) ?? 0,
			});
		}
	});
}

/**
 * The versions with their ranks. A field two destinations write is ranked by arrival across both: between
 * destinations the later update by observedAt wins (design: "Two destinations, one field").
 */
function ranked(): Version[] {
	const writers = new Map<string, Set<string>>();
	for (const v of versions) {
		const key = `${v.prospectId}\u0000${v.field}`;
		(writers.get(key) ?? writers.set(key, new Set()).get(key)!).add(v.destinationId);
	}
	return versions.map((v) =>
		(writers.get(`${v.prospectId}\u0000${v.field}`)?.size ?? 0) > 1 ? { ...v, rank: rankOfAttribute({ revision: 0, observedAt: v.observedAt, position: v.position }) } : v,
	);
}

/** The number of versions recorded so far (a test can check the audit had something to judge). */
export function auditedVersions(): number {
	return versions.length;
}

/** Audits the local Outreach's write log against what was ingested: no stale write, no unknown value. */
export async function expectNoStaleWrites(): Promise<{ writes: number }> {
	const res = await fetch(`${env.OUTREACH_API_BASE}/__fake/writes`);
	const { writes } = (await res.json()) as { writes: AppliedWrite[] };
	const prospects = new Set(versions.map((v) => v.prospectId));
	const ours = writes.filter((w) => prospects.has(w.prospectId));
	const { stale, unknown } = auditWrites(ranked(), ours);
	expect(stale, "writes that set a field back to an older version").toEqual([]);
	expect(unknown, "writes of a value no ingested version had by then").toEqual([]);
	return { writes: ours.length };
}

/** Every test of the file ends with the write audit. */
export function auditHooks(): void {
	afterEach(async () => {
		await expectNoStaleWrites();
	});
}
