import { z } from "zod";
import { customFieldNumber, isArrayAttribute, mappableAttributes } from "./outreach/attributes";

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

export const Mapping = z
	.strictObject({
		identityNamespace: z
			.string({ error: "is required: the AEP identity namespace holding the Outreach prospect id, e.g. Oid" })
			.trim()
			.min(1, "is required: the AEP identity namespace holding the Outreach prospect id, e.g. Oid")
			.max(MAX_NAME, "must be at most 256 characters"),
		attributes: z.array(AttributeMapping).max(MAX_ATTRIBUTES, `must have at most ${MAX_ATTRIBUTES} attributes`).default([]),
		segments: z.array(SegmentMapping).max(MAX_SEGMENTS, `must have at most ${MAX_SEGMENTS} segments (Outreach has 150 custom fields)`).default([]),
		statusValues: z.strictObject({ realized: StatusWord.optional(), existing: StatusWord.optional(), exited: StatusWord.optional() }).optional(),
	})
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
