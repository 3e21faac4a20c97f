import { z } from "zod";
import { Applier, chargeRequest } from "./applier.ts";
import { judgeDocument, validationError, type ApiError } from "./errors.ts";
import type { DupeMethod, Import } from "./imports.ts";
import { judgePatch } from "./prospects.ts";
import { findProspect, prospectId, updateProspect, type World } from "./state.ts";

// Outreach's bulkUpsert, as the local Outreach carries it out: the request is judged as a whole (422 for a
// malformed body, a dupe method it does not carry out, or too many records), charged against the org's daily
// record quota, and becomes an import that a background applier works through at `recordsPerSecond` for the
// whole org. Each record is judged when the applier reaches it, exactly as a PATCH of that prospect would be
// (unknown prospect, unknown or read-only attribute, type, length, field rules): a bad record fails alone,
// the others are applied, and its values are logged as writes only when applied.

export type BulkUpsert = { dupeMethod: DupeMethod; fileName: string | null; records: Record<string, unknown>[] };

export type UpsertVerdict = { ok: true; request: BulkUpsert } | { ok: false; errors: ApiError[] };

// The OpenAPI's body: {"data":{"type":"import","attributes":{"dupeMethod","fileName","records":[…]}}}.
// Strict attributes, so a misspelled member (`dupemethod`) is a 422 naming it instead of a silent default.
// Each record must at least be an object; what is inside it is the record's own business, judged per record.
const bodySchema = z.object({
	data: z.looseObject({
		attributes: z.strictObject({
			dupeMethod: z.enum(["overwriteNoCreate", "overwrite", "skip", "missing"], {
				error: "'dupeMethod' must be one of overwriteNoCreate, overwrite, skip, missing",
			}),
			fileName: z.string().optional(),
			records: z
				.array(z.record(z.string(), z.unknown(), { error: "each record must be a resource object {type, id, attributes}" }), {
					error: "'records' must be an array of resource objects",
				})
				.min(1, "'records' must hold at least one record"),
		}),
	}),
});

/**
 * Judges a bulkUpsert body: the first stage that finds problems answers them (body, then dupe method, then
 * size), so a size 422 always means only the size is wrong.
 */
export function judgeBulkUpsert(text: string, maxRecords: number): UpsertVerdict {
	const parsed = judgeDocument(text, bodySchema, "bulkUpsert request");
	if (!parsed.ok) return parsed;
	const { dupeMethod, fileName = null, records } = parsed.document.data.attributes;
	// What `skip` and `missing` do to an existing prospect is not published; guessing would let a client pass
	// here and misbehave at Outreach, so they are refused outright.
	if (dupeMethod === "skip" || dupeMethod === "missing")
		return {
			ok: false,
			errors: [validationError(`The local Outreach carries out only the dupe methods overwriteNoCreate and overwrite (got '${dupeMethod}').`, { pointer: "/data/attributes/dupeMethod" })],
		};
	if (records.length > maxRecords)
		return {
			ok: false,
			errors: [validationError(`Too many records: an import takes at most ${maxRecords} records (got ${records.length}).`, { pointer: "/data/attributes/records" })],
		};
	return { ok: true, request: { dupeMethod, fileName, records } };
}

/** Creates the import a judged request asks for, or answers the quota's 429 error (and creates nothing). */
export function submitImport(world: World, userId: number, request: BulkUpsert, now: number): { imp: Import } | { quotaExceeded: ApiError } {
	const imports = world.imports;
	const quotaExceeded = chargeRequest(imports, request.records.length, imports.settings.dailyRecordQuota, now);
	if (quotaExceeded) return { quotaExceeded };
	const imp: Import = {
		id: imports.nextImportId++,
		userId,
		...request,
		total: request.records.length,
		applied: 0,
		dupes: 0,
		failures: [],
		state: "pending",
		createdAt: now,
		stateChangedAt: now,
		updatedAt: now,
	};
	imports.imports.set(imp.id, imp);
	if (imports.settings.stall) {
		// Started and never progressing: what a client sees of an import stuck on Outreach's side.
		imp.state = "processing";
		return { imp };
	}
	const { recordsPerSecond, outOfOrder } = imports.settings;
	imports.applier ??= new Applier<Import>({ perSecond: recordsPerSecond, outOfOrder }, (next, at) => applyNextRecord(world, next, at));
	imports.applier.add(imp);
	return { imp };
}

/** A record's id as a prospect id (a positive integer, or its digits as a string, as a PATCH takes it), else null. */
function recordProspectId(id: unknown): number | null {
	if (typeof id === "number") return Number.isSafeInteger(id) && id > 0 ? id : null;
	return typeof id === "string" ? prospectId(id) : null;
}

/**
 * Why the record cannot be applied, or the attributes to write. A PATCH answers 404 before it looks at the
 * document, so an unknown prospect fails as "not found" (as a bulk item does) whatever else is wrong.
 */
function judgeRecord(world: World, record: Record<string, unknown>, dupeMethod: DupeMethod): { reason: string } | { id: number; exists: boolean; attributes: Record<string, unknown> } {
	const id = recordProspectId(record.id);
	if (id === null) return { reason: `'id' must be a prospect id (got ${JSON.stringify(record.id) ?? "nothing"}).` };
	const exists = findProspect(world, id) !== undefined;
	if (!exists && dupeMethod === "overwriteNoCreate") return { reason: "not found" };
	// The very judgement a PATCH of this prospect gets: `type`, every attribute against Outreach's list, the field rules.
	const verdict = judgePatch({ data: record }, id, world.fieldRules);
	if (!verdict.ok) return { reason: verdict.errors.map((error) => error.detail).join(" ") };
	return { id, exists, attributes: verdict.attributes };
}

/** Applies the import's next record, or records why it failed. True when the import is done. */
function applyNextRecord(world: World, imp: Import, now: number): boolean {
	const index = imp.applied;
	const record = imp.records[index]!;
	const judged = judgeRecord(world, record, imp.dupeMethod);
	if ("reason" in judged) {
		imp.failures.push({ index, id: record.id ?? null, reason: judged.reason });
	} else {
		updateProspect(world, judged.id, judged.attributes, { via: "import", importId: imp.id });
		world.imports.stats.records += 1;
		// Counted wherever it happens, so that a creation by mistake is loud in every check.
		if (judged.exists) imp.dupes += 1;
		else world.imports.stats.created += 1;
	}
	imp.applied += 1;
	imp.updatedAt = now;
	if (imp.state === "pending") {
		imp.state = "processing";
		imp.stateChangedAt = now;
	}
	if (imp.applied < imp.total) return false;
	imp.state = "finished";
	imp.stateChangedAt = now;
	// A back-fill sends a thousand imports of a thousand records; a finished one needs only its counts.
	imp.records = [];
	return true;
}
