import { z } from "zod";
import { dictionaryOf, ownValue, setOwn } from "../platform/dictionary";
import { quote } from "../platform/echo";
import { customField, isArrayAttribute, prospectAttributes, attributeValueProblem } from "../outreach/attributes";
import { revisionOf, SegmentStatus, statusWord, type Mapping, type StoredMapping } from "../destinations/mapping";

/**
 * An *update*: one AEP profile accepted for one destination, turned into the prospect fields it sets.
 * This module maps a profile to an update (at ingest and again at replay, from the stored source data),
 * orders field versions, and merges updates for one prospect.
 */

/**
 * A field's version within its destination (design: "Which value wins"): [mapping revision of the field, its
 * time (a segment's lastQualificationTime, else the update's observedAt; an attribute's observedAt), observedAt,
 * the profile's position in its request]. Two distinct updates never tie: the update id breaks what is left.
 */
export type Version = [revision: number, time: number, observedAt: number, position: number];

/**
 * Accepts today's four-part versions and the three-part `[lastQualificationTime or 0, observedAt, sequence]` of
 * messages queued before mapping revisions existed, read as revision 0 with observedAt standing in for a
 * missing qualification time.
 */
export const VersionSchema = z.union([
	z.tuple([z.number(), z.number(), z.number(), z.number()]),
	z.tuple([z.number(), z.number(), z.number()]).transform(([q, o, s]): Version => [0, q || o, o, s]),
]);

/** Orders two field versions; `aId`/`bId` (the updates' ids) break a tie between distinct updates. */
export function compareVersions(a: Version, b: Version, aId = "", bId = ""): number {
	const byParts = a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3];
	if (byParts !== 0) return byParts;
	return aId === bId ? 0 : aId < bId ? -1 : 1;
}

const FieldValue = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.string())]);
export type FieldValue = z.infer<typeof FieldValue>;

export const FieldUpdate = z.object({ value: FieldValue, v: VersionSchema });
export type FieldUpdate = z.infer<typeof FieldUpdate>;

/** What travels through the queue for one update. */
export const Update = z.object({
	id: z.string(),
	prospectId: z.number().int().positive(),
	fields: z.record(z.string(), FieldUpdate),
	/** Fields that already failed for this update (e.g. a 422 on first try), with their reason. */
	failedFields: z.record(z.string(), z.string()).optional(),
	/** Delivery attempts already spent on this update (transient failures only). */
	attempt: z.number().int().min(0).optional(),
	/**
	 * Which hand-over of this update by its ledger this copy is. The ledger re-sends an update only from its
	 * current copy, so a copy that a crashed batch left behind never multiplies. Absent in messages queued
	 * before it existed.
	 */
	gen: z.number().int().min(0).optional(),
	/** The budget slot the gate reserved for this update's call when it deferred it, presented on return. */
	slot: z.number().optional(),
	/** Deliver by PATCH even where the bulk API is on (its bulk batch was cancelled or refused). */
	patchOnly: z.literal(true).optional(),
});
export type Update = z.infer<typeof Update>;

/** The source data kept by the ledger so a failure can be re-mapped with the current mapping. */
export const SourceData = z.object({
	prospectId: z.number(),
	observedAt: z.number(),
	seq: z.number(),
	segments: dictionaryOf(z.object({ status: SegmentStatus, lastQualificationTime: z.string().optional() })),
	attributes: dictionaryOf(z.unknown()),
	/**
	 * The mapping a Destination SDK package body carried (AEP's Mapping IDs, attributes by their Outreach names),
	 * so a replay maps the update as AEP did, not by the console's mapping. Absent for the other bodies.
	 */
	aep: z
		.object({
			segments: z.array(z.object({ segmentId: z.string(), mappingId: z.number().int() })),
			attributes: z.array(z.object({ source: z.string(), target: z.string() })),
		})
		.optional(),
});
export type SourceData = z.infer<typeof SourceData>;

/** The identity namespace the Destination SDK package declares: AEP's mapping step targets it. */
export const AEP_IDENTITY_NAMESPACE = "OutreachId";

/**
 * The mapping for an update from the Destination SDK package: AEP's Mapping IDs and attribute names, with the
 * console's status words and field revisions (so the ordering contract applies unchanged).
 */
export function aepMapping(aep: NonNullable<SourceData["aep"]>, consoleMapping: StoredMapping | null): StoredMapping {
	return {
		identityNamespace: AEP_IDENTITY_NAMESPACE,
		segments: aep.segments,
		attributes: aep.attributes,
		statusValues: consoleMapping?.statusValues,
		revisions: consoleMapping?.revisions ?? {},
	};
}

/** The segments an update touches, for per-segment counts. */
export type SegmentRef = { segmentId: string; mappingId: number };

export type Mapped =
	| { kind: "accepted"; update: Update; source: SourceData; segments: SegmentRef[] }
	| { kind: "skipped" }
	| { kind: "rejected"; error: string; segments: SegmentRef[] };

const Identity = z.looseObject({ id: z.unknown(), primary: z.boolean().optional() });
const Membership = z.looseObject({ status: z.unknown(), lastQualificationTime: z.unknown().optional() });
const Profile = z.looseObject({
	identityMap: z.record(z.string(), z.unknown()).optional(),
	segmentMembership: z.record(z.string(), z.unknown()).optional(),
});

const POSITIVE_INT = /^[1-9]\d{0,15}$/;

/** The OutreachId by the identity rule: the `primary` entry of the namespace, else the first. */
export function prospectIdOf(profile: Record<string, unknown>, namespace: string): number | string {
	const parsed = Profile.safeParse(profile);
	if (!parsed.success) return "identityMap must be an object of identity lists";
	const ns = quote(namespace);
	const list = ownValue(profile.identityMap as Record<string, unknown> | undefined, namespace);
	if (list === undefined) return `no '${ns}' identity in identityMap (it holds the Outreach prospect id)`;
	if (!Array.isArray(list) || list.length === 0) return `identityMap.${ns} must be a non-empty list of {id}`;
	const entries = list.map((e) => Identity.safeParse(e));
	const chosen = entries.find((e) => e.success && e.data.primary === true) ?? entries[0]!;
	if (!chosen.success) return `identityMap.${ns} entries must be objects with an id`;
	const raw = chosen.data.id;
	const text = typeof raw === "number" ? String(raw) : typeof raw === "string" ? raw.trim() : null;
	if (text === null || !POSITIVE_INT.test(text) || !Number.isSafeInteger(Number(text)))
		return `identityMap.${ns} id ${JSON.stringify(raw)?.slice(0, 40)} is not a positive integer Outreach prospect id`;
	return Number(text);
}

/** Reads a dotted XDM path (`person.name.firstName`). */
export function readPath(profile: unknown, path: string): unknown {
	let node: unknown = profile;
	for (const key of path.split(".")) {
		if (node === null || typeof node !== "object" || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
		node = (node as Record<string, unknown>)[key];
	}
	return node;
}

/** Converts an XDM value to what Outreach's attribute takes, or explains why it cannot. */
export function attributeValue(target: string, value: unknown): { value: FieldValue } | { error: string } {
	const spec = prospectAttributes[target];
	let out: unknown = value;
	if (value === null) out = null;
	else if (isArrayAttribute(target)) {
		const items = Array.isArray(value) ? value : [value];
		if (!items.every((i) => ["string", "number", "boolean"].includes(typeof i))) return { error: `must be a list of plain values` };
		out = items.map(String);
	} else if (spec?.type === "string" && (typeof value === "number" || typeof value === "boolean")) out = String(value);
	else if ((spec?.type === "integer" || spec?.type === "number") && typeof value === "string" && value.trim() !== "")
		out = Number(value);
	else if (spec?.type === "boolean" && (value === "true" || value === "false")) out = value === "true";
	const problem = attributeValueProblem(target, out);
	return problem ? { error: problem } : { value: out as FieldValue };
}

/** A segment's lastQualificationTime in epoch ms, or null when it is absent or unreadable. */
function qualificationTime(raw: string | undefined): number | null {
	const t = raw === undefined ? NaN : Date.parse(raw);
	return Number.isNaN(t) ? null : t;
}

/** Collects the mapped segments' memberships from every `segmentMembership` namespace. */
function memberships(profile: Record<string, unknown>, mapping: Mapping) {
	const mapped = new Map(mapping.segments.map((s) => [s.segmentId, s.mappingId]));
	const found: SourceData["segments"] = {};
	const problems: string[] = [];
	// The raw object, not zod's copy: zod drops a `__proto__` key, which is an ordinary namespace here.
	const namespaces = Profile.safeParse(profile).success ? ((profile.segmentMembership as Record<string, unknown> | undefined) ?? {}) : {};
	for (const [ns, segments] of Object.entries(namespaces)) {
		if (segments === null || typeof segments !== "object" || Array.isArray(segments)) continue;
		for (const [segmentId, raw] of Object.entries(segments)) {
			if (!mapped.has(segmentId)) continue;
			const m = Membership.safeParse(raw);
			const status = SegmentStatus.safeParse(m.data?.status);
			if (!m.success || !status.success) {
				problems.push(`segmentMembership.${quote(ns)}.${quote(segmentId)}.status must be realized, existing or exited`);
				continue;
			}
			const lqt = typeof m.data.lastQualificationTime === "string" ? m.data.lastQualificationTime : undefined;
			const prev = ownValue(found, segmentId);
			// The same segment in two namespaces: the later qualification wins.
			if (!prev || (qualificationTime(lqt) ?? 0) >= (qualificationTime(prev.lastQualificationTime) ?? 0))
				setOwn(found, segmentId, { status: status.data, ...(lqt ? { lastQualificationTime: lqt } : {}) });
		}
	}
	return { found, problems, mapped };
}

/**
 * Turns source data into the update's fields with the given mapping (used by ingest and by replay). Each field
 * is versioned under the mapping's current revision of that field; a segment without a readable
 * lastQualificationTime takes the update's observedAt instead (never 0, which would make it lose forever).
 */
export function fieldsFrom(source: SourceData, mapping: Mapping | StoredMapping): { fields: Update["fields"]; segments: SegmentRef[]; error?: string } {
	const fields: Update["fields"] = {};
	const segments: SegmentRef[] = [];
	const at = (field: string): Version => [revisionOf(mapping, field), source.observedAt, source.observedAt, source.seq];
	for (const s of mapping.segments) {
		const m = ownValue(source.segments, s.segmentId);
		if (!m) continue;
		segments.push({ segmentId: s.segmentId, mappingId: s.mappingId });
		const field = customField(s.mappingId);
		const v = at(field);
		v[1] = qualificationTime(m.lastQualificationTime) ?? source.observedAt;
		fields[field] = { value: statusWord(mapping, m.status), v };
	}
	for (const a of mapping.attributes) {
		if (!Object.hasOwn(source.attributes, a.source)) continue;
		const converted = attributeValue(a.target, source.attributes[a.source]);
		if ("error" in converted) return { fields, segments, error: `${a.source} → ${a.target}: ${converted.error}` };
		fields[a.target] = { value: converted.value, v: at(a.target) };
	}
	return { fields, segments };
}

/** Maps one AEP profile to an update for a destination, or says why it is skipped or rejected. */
export function mapProfile(
	profile: unknown,
	mapping: Mapping | StoredMapping,
	ids: { id: string; observedAt: number; seq: number },
): Mapped {
	if (profile === null || typeof profile !== "object" || Array.isArray(profile))
		return { kind: "rejected", error: "a profile must be a JSON object", segments: [] };
	const record = profile as Record<string, unknown>;
	const { found, problems, mapped } = memberships(record, mapping);
	const segments = Object.keys(found).map((segmentId) => ({ segmentId, mappingId: mapped.get(segmentId)! }));
	if (problems.length) return { kind: "rejected", error: problems.join("; "), segments };
	const attributes: Record<string, unknown> = {};
	for (const a of mapping.attributes) {
		const value = readPath(record, a.source);
		if (value !== undefined) setOwn(attributes, a.source, value);
	}
	if (segments.length === 0 && Object.keys(attributes).length === 0) return { kind: "skipped" };
	const prospectId = prospectIdOf(record, mapping.identityNamespace);
	if (typeof prospectId === "string") return { kind: "rejected", error: prospectId, segments };
	const source: SourceData = { prospectId, observedAt: ids.observedAt, seq: ids.seq, segments: found, attributes };
	const result = fieldsFrom(source, mapping);
	if (result.error) return { kind: "rejected", error: result.error, segments };
	return { kind: "accepted", update: { id: ids.id, prospectId, fields: result.fields }, source, segments: result.segments };
}

/**
 * Merges updates for one prospect field by field (highest version wins). Returns the merged fields, which
 * update supplied each field, and the updates that supplied none (superseded by the others).
 */
export function mergeUpdates(updates: Update[]): { fields: Update["fields"]; owners: Map<string, Update>; losers: Update[] } {
	const fields: Update["fields"] = {};
	const owners = new Map<string, Update>();
	for (const u of updates) {
		for (const [name, f] of Object.entries(u.fields)) {
			const cur = fields[name];
			if (!cur || compareVersions(f.v, cur.v, u.id, owners.get(name)!.id) > 0) {
				fields[name] = f;
				owners.set(name, u);
			}
		}
	}
	const winners = new Set(owners.values());
	return { fields, owners, losers: updates.filter((u) => !winners.has(u)) };
}
