import { z } from "zod";
import { customField, customFieldNumber, isArrayAttribute, mappableAttributes } from "../outreach/attributes";

/** AEP segment statuses; `existing` is the older name for "still qualifies". */
export const SegmentStatus = z.enum(["realized", "existing", "exited"]);
export type SegmentStatus = z.infer<typeof SegmentStatus>;

/**
 * Size limits, so no mapping can grow the records read on every ingest request (and the pages that show
 * them) without bound. A status word may use Outreach's 32,000 characters per field, within the 64 KB whole.
 */
const MAX_NAME = 256;
const MAX_ATTRIBUTES = 100;
const MAX_SEGMENTS = 150;
const MAX_MAPPING_BYTES = 64 * 1024;

const XDM_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;
const mappable = new Set(mappableAttributes);

// Strict objects: a misspelt key (`segment`, `mappingID`) is reported, not silently dropped.
export const AttributeMapping = z.strictObject({
	source: z
		.string({ error: "is required: a dotted XDM path such as person.name.firstName" })
		.trim()
		.max(MAX_NAME, "must be at most 256 characters")
		.regex(XDM_PATH, "must be a dotted XDM path such as person.name.firstName"),
	target: z.string({ error: "is required: an Outreach prospect attribute such as firstName" }).refine((t) => mappable.has(t), {
		error: (iss) =>
			customFieldNumber(String(iss.input)) !== null
				? "custom fields are written by segments: map a segment with this Mapping ID instead"
				: "must be a writable Outreach prospect attribute, e.g. firstName, lastName, title, company (custom fields come from segments)",
	}),
});

export const SegmentMapping = z.strictObject({
	segmentId: z.string({ error: "is required: the AEP segment id" }).trim().min(1, "must not be empty").max(MAX_NAME, "must be at most 256 characters"),
	mappingId: z
		.number({ error: "must be a number from 1 to 150 (Outreach's Custom Field N)" })
		.int("must be a whole number from 1 to 150")
		.min(1, "must be from 1 to 150")
		.max(150, "must be from 1 to 150"),
	name: z.string({ error: "must be text" }).max(MAX_NAME, "must be at most 256 characters").optional(),
});

const StatusWord = z.string({ error: "must be text" }).max(32000, "must be at most 32,000 characters");

const mappingShape = {
	identityNamespace: z
		.string({ error: "is required: the AEP identity namespace holding the Outreach prospect id, e.g. Oid" })
		.trim()
		.min(1, "is required: the AEP identity namespace holding the Outreach prospect id, e.g. Oid")
		.max(MAX_NAME, "must be at most 256 characters"),
	attributes: z.array(AttributeMapping).max(MAX_ATTRIBUTES, `must have at most ${MAX_ATTRIBUTES} attributes`).default([]),
	segments: z.array(SegmentMapping).max(MAX_SEGMENTS, `must have at most ${MAX_SEGMENTS} segments (Outreach has 150 custom fields)`).default([]),
	statusValues: z.strictObject({ realized: StatusWord.optional(), existing: StatusWord.optional(), exited: StatusWord.optional() }).optional(),
};

/** A mapping as `PUT …/mapping` takes it. */
export const Mapping = z
	.strictObject(mappingShape)
	.superRefine((m, ctx) => {
		// Read on every ingest request and shown on every mapping page: the whole mapping stays small.
		const bytes = new TextEncoder().encode(JSON.stringify(m)).byteLength;
		if (bytes > MAX_MAPPING_BYTES)
			ctx.addIssue({
				code: "custom",
				path: [],
				message: `the mapping is ${Math.ceil(bytes / 1024)} KB; it must be at most 64 KB. Shorten the status words (statusValues) or segment names`,
			});
		const byMappingId = new Map<number, number>();
		const bySegment = new Map<string, number>();
		m.segments.forEach((s, i) => {
			const seenId = byMappingId.get(s.mappingId);
			if (seenId !== undefined)
				ctx.addIssue({ code: "custom", path: ["segments", i, "mappingId"], message: `Mapping ID ${s.mappingId} is already used by segments[${seenId}]` });
			else byMappingId.set(s.mappingId, i);
			const seenSeg = bySegment.get(s.segmentId);
			if (seenSeg !== undefined)
				ctx.addIssue({ code: "custom", path: ["segments", i, "segmentId"], message: `segment is already mapped by segments[${seenSeg}]` });
			else bySegment.set(s.segmentId, i);
		});
		const byTarget = new Map<string, number>();
		m.attributes.forEach((a, i) => {
			const seen = byTarget.get(a.target);
			if (seen !== undefined)
				ctx.addIssue({ code: "custom", path: ["attributes", i, "target"], message: `'${a.target}' is already the target of attributes[${seen}]` });
			else byTarget.set(a.target, i);
		});
	});

export type Mapping = z.infer<typeof Mapping>;

/**
 * A mapping as the destination's authority stores it: the mapping and each prospect field's revision, which
 * increases whenever the field's source changes (another segment or XDM path, or unmapped) and never
 * decreases. A mapping stored before revisions existed reads as revision 0 everywhere.
 */
export const StoredMapping = z.object({ ...mappingShape, revisions: z.record(z.string(), z.number().int().min(0)).default({}) });
export type StoredMapping = z.infer<typeof StoredMapping>;

/** The field's current revision in a mapping (0 when it never had one). */
export function revisionOf(mapping: Pick<StoredMapping, "revisions"> | Mapping, field: string): number {
	const revisions = "revisions" in mapping ? mapping.revisions : undefined;
	return revisions && Object.hasOwn(revisions, field) ? revisions[field]! : 0;
}

/** Where each mapped prospect field's value comes from: a segment's status or an XDM path. */
export function fieldSources(mapping: Pick<Mapping, "segments" | "attributes"> | null): Map<string, string> {
	const sources = new Map<string, string>();
	for (const s of mapping?.segments ?? []) sources.set(customField(s.mappingId), `segment ${s.segmentId}`);
	for (const a of mapping?.attributes ?? []) sources.set(a.target, `attribute ${a.source}`);
	return sources;
}

/**
 * The revisions of a mapping about to replace `previous`: a field whose source changed (including one mapped
 * or unmapped now) moves to its next revision; the others keep theirs. Also answers which fields changed.
 */
export function nextRevisions(previous: StoredMapping | null, next: Mapping): { revisions: Record<string, number>; changed: string[] } {
	// A destination's first mapping starts every field at revision 0: nothing was mapped under another before it.
	if (!previous) return { revisions: {}, changed: [] };
	const before = fieldSources(previous);
	const after = fieldSources(next);
	const revisions: Record<string, number> = { ...(previous?.revisions ?? {}) };
	const changed: string[] = [];
	for (const field of new Set([...before.keys(), ...after.keys()])) {
		if (before.get(field) === after.get(field)) continue;
		revisions[field] = revisionOf(previous ?? { revisions: {} }, field) + 1;
		changed.push(field);
	}
	return { revisions, changed: changed.sort() };
}

/** The word written into `customN` for a segment status: the destination's word, else the raw status. */
export function statusWord(mapping: Pick<Mapping, "statusValues">, status: SegmentStatus): string {
	const words = mapping.statusValues ?? {};
	if (status === "existing") return words.existing ?? words.realized ?? "existing";
	return words[status] ?? status;
}

/** Warnings that do not make a mapping invalid but change what Outreach keeps. */
export function mappingWarnings(mapping: Mapping): { path: string; message: string }[] {
	return mapping.attributes.flatMap((a, i) =>
		isArrayAttribute(a.target)
			? [{ path: `attributes.${i}.target`, message: `'${a.target}' is a list in Outreach: a value replaces the whole list with one element` }]
			: [],
	);
}

/**
 * Warnings for prospect fields that another destination maps too. Both then write the same Outreach field,
 * and between them the newest update by arrival (observedAt) wins (design: "Two destinations, one field").
 */
export function sharedFieldWarnings(
	mapping: Pick<Mapping, "segments" | "attributes">,
	others: { id: string; name: string; mapping: Pick<Mapping, "segments" | "attributes"> }[],
): { path: string; message: string }[] {
	const warnings: { path: string; message: string }[] = [];
	const theirs = others.map((o) => ({ ...o, sources: fieldSources(o.mapping) }));
	const check = (field: string, path: string) => {
		for (const o of theirs) {
			const source = o.sources.get(field);
			if (source === undefined) continue;
			warnings.push({
				path,
				message: `'${field}' is also written by destination '${o.name}' (from ${source}). When both write it, the later update by arrival wins, whichever segment or attribute it comes from.`,
			});
		}
	};
	mapping.segments.forEach((seg, i) => check(customField(seg.mappingId), `segments.${i}.mappingId`));
	mapping.attributes.forEach((a, i) => check(a.target, `attributes.${i}.target`));
	return warnings;
}

/**
 * Segments the console maps to another Mapping ID than the one typed in AEP's scheduling step (Destination SDK
 * package). AEP's wins for the bodies the package sends, so the console's is not what Outreach gets.
 */
export function aepMappingConflicts(
	mapping: Pick<Mapping, "segments">,
	aep: readonly { segmentId: string; mappingId: number }[],
): { path: string; message: string }[] {
	const fromAep = new Map(aep.map((a) => [a.segmentId, a.mappingId]));
	return mapping.segments.flatMap((s, i) => {
		const theirs = fromAep.get(s.segmentId);
		return theirs === undefined || theirs === s.mappingId
			? []
			: [
					{
						path: `segments.${i}.mappingId`,
						message: `Segment ${s.segmentId} is mapped in AEP to Mapping ID ${theirs} (custom${theirs}); AEP's Mapping ID wins for what AEP's Outreach destination sends, so this mapping's ${s.mappingId} (custom${s.mappingId}) is not used for it. Change one of them so they agree.`,
					},
				];
	});
}
