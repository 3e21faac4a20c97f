import { z } from "zod";
import { DailyQuota, type Applier } from "./applier.ts";
import { isoTime as iso } from "./errors.ts";

// Outreach's imports (`POST /imports/actions/bulkUpsert`) as the local Outreach keeps them, and how they read as
// JSON:API resources. Outreach publishes the body and the `import` resource but none of the limits
// (reference/outreach-bulk.md §imports), so each of those is a setting whose default is the pessimistic choice,
// as for the bulk API's batches.

export const importSettingsSchema = z.strictObject({
	/** Records one bulkUpsert may carry; more → 422 for size. */
	maxRecords: z.number().int().positive().optional(),
	/** How fast imports are applied, for the whole org (all users' imports together). */
	recordsPerSecond: z.number().positive().max(10_000_000).optional(),
	/**
	 * What a finished import tells of its failed records: `counts` only how many (`failures`, and `errorReason`
	 * saying so), as the published resource does; `records` adds `failedRecords: [{index, id, reason}]`.
	 */
	failureDetail: z.enum(["counts", "records"]).optional(),
	/** Whether two runnable imports may finish in either order (true) or strictly in creation order. */
	outOfOrder: z.boolean().optional(),
	/** New imports go `processing` and never apply anything, so a client's leases get tested. */
	stall: z.boolean().optional(),
	/** Records per org per day; a request whose records would go past what is left answers 429. */
	dailyRecordQuota: z.number().int().nonnegative().optional(),
});

export type ImportSettings = Required<z.infer<typeof importSettingsSchema>>;

export const defaultImportSettings: ImportSettings = {
	maxRecords: 1000,
	// Half the bulk API's 200 items a second: a record can carry many fields where an item carries one.
	recordsPerSecond: 100,
	// The published resource has only a count and a free text; a client must cope with nothing more.
	failureDetail: "counts",
	outOfOrder: true,
	stall: false,
	// The only published figure for bulk work (the bulk API's items, shared with in-app bulk edits).
	dailyRecordQuota: 5_000_000,
};

/** Outreach publishes no state names; a client must treat any state but `finished` as not finished. */
export type ImportState = "pending" | "processing" | "finished";

/**
 * The dupe methods the local Outreach carries out: `overwriteNoCreate` (what a destination must send: an
 * unknown id is a failed record) and `overwrite` (an unknown id creates the prospect, counted in
 * `imports.created`, so a client sending it by mistake is caught). `skip` and `missing` are refused (422).
 */
export type DupeMethod = "overwriteNoCreate" | "overwrite";

export type FailedRecord = {
	/** The record's position in `records`: ids may be missing, malformed or repeated. */
	index: number;
	/** The record's `id` as sent (null when it had none). */
	id: unknown;
	reason: string;
};

/** One bulkUpsert request. */
export type Import = {
	id: number;
	userId: number;
	dupeMethod: DupeMethod;
	fileName: string | null;
	/** The records as sent, judged one by one when the applier reaches them; let go once the import is finished. */
	records: Record<string, unknown>[];
	total: number;
	/** Records 0…applied-1 are done (written or failed), in order. */
	applied: number;
	/** Records applied to a prospect that already existed (the dupe method applied to them). */
	dupes: number;
	/** The failed records, in order. */
	failures: FailedRecord[];
	state: ImportState;
	createdAt: number;
	stateChangedAt: number;
	updatedAt: number;
};

export type ImportsState = {
	settings: ImportSettings;
	imports: Map<number, Import>;
	nextImportId: number;
	/** The org's daily record quota. */
	quota: DailyQuota;
	/** Applies the imports with records left, at `recordsPerSecond` for the org; made with the first import. */
	applier: Applier<Import> | null;
	stats: {
		/** Well-formed, authorized bulkUpsert requests (those that created an import, and those over the quota). */
		requests: number;
		/** Records written to a prospect (failed ones are not). */
		records: number;
		/** Prospects an import created. Every check requires 0: `overwriteNoCreate` never creates. */
		created: number;
		quota429: number;
	};
};

export function newImportsState(settings: ImportSettings): ImportsState {
	return {
		settings,
		imports: new Map(),
		nextImportId: 1,
		quota: new DailyQuota({ id: "importQuotaExceeded", title: "Import Quota Exceeded", kind: "import", units: "records" }),
		applier: null,
		stats: { requests: 0, records: 0, created: 0, quota429: 0 },
	};
}

/** What `errorReason` says: how many records failed, never which (those are in `failedRecords`, when given). */
function errorReason(imp: Import): string | null {
	const n = imp.failures.length;
	if (n === 0) return null;
	return `${n} of the import's ${imp.total} records ${n === 1 ? "has" : "have"} failed.`;
}

/**
 * The import as a JSON:API resource, with the attributes of Outreach's published `import` schema that apply
 * here; `failedRecords` only under `failureDetail: "records"`.
 */
export function importResource(imp: Import, failureDetail: ImportSettings["failureDetail"], origin: string) {
	return {
		type: "import",
		id: imp.id,
		attributes: {
			dupeMethod: imp.dupeMethod,
			fileName: imp.fileName,
			state: imp.state,
			total: imp.total,
			failures: imp.failures.length,
			dupes: imp.dupes,
			errorReason: errorReason(imp),
			...(failureDetail === "records" ? { failedRecords: imp.failures } : {}),
			createdAt: iso(imp.createdAt),
			stateChangedAt: iso(imp.stateChangedAt),
			updatedAt: iso(imp.updatedAt),
		},
		relationships: { creator: { data: { type: "user", id: imp.userId } } },
		links: { self: `${origin}/api/v2/imports/${imp.id}` },
	};
}
