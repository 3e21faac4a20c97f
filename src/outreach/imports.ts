import { z } from "zod";
import { outreachRequest, type OutreachResponse } from "./api";

/**
 * Outreach's imports (reference/outreach-bulk.md §imports): `bulkUpsert` syncs many prospect records in one
 * asynchronous import, each record with its own values, matched by `id`; `GET /imports/:id` tells how it goes.
 * Only `overwriteNoCreate` is ever sent: a record whose prospect does not exist fails instead of creating one.
 * Outreach publishes no per-record results: a finished import may say only how many records failed
 * (`failures`, `errorReason`); `failedRecords` is read when an Outreach answers it, and never required.
 */

/** An import as Outreach answers it. `state` has no published list: anything but `finished` is not finished. */
export const OutreachImport = z.object({
	id: z.coerce.number().int(),
	state: z.string(),
	total: z.number().int().nonnegative().optional(),
	failures: z.number().int().nonnegative().default(0),
	errorReason: z.string().nullish(),
	createdAt: z.string().nullish().catch(null),
	stateChangedAt: z.string().nullish(),
	updatedAt: z.string().nullish(),
	failedRecords: z
		.array(z.looseObject({ index: z.number().int().nonnegative().optional(), id: z.unknown().optional(), reason: z.string().nullish() }))
		.optional()
		.catch(undefined),
});
export type OutreachImport = z.infer<typeof OutreachImport>;

const ImportDocument = z.object({ data: z.object({ id: z.union([z.string(), z.number()]), attributes: z.looseObject({}) }) });

function readImport(res: OutreachResponse): OutreachImport | null {
	const doc = ImportDocument.safeParse(res.data);
	if (!doc.success) return null;
	const parsed = OutreachImport.safeParse({ ...doc.data.data.attributes, id: doc.data.data.id });
	return parsed.success ? parsed.data : null;
}

/** Whether an import has stopped for good: only then are its counts final. */
export function importFinished(i: Pick<OutreachImport, "state">): boolean {
	return i.state === "finished";
}

/** One record: a prospect's id and the values to set on it. */
export type ImportRecord = { id: number; attributes: Record<string, unknown> };

export class EmptyImport extends Error {}

/** Starts an import of `records` (each an existing prospect: `overwriteNoCreate` never creates one). */
export async function bulkUpsert(base: string, token: string, records: ImportRecord[], timeoutMs: number) {
	if (records.length === 0 || !records.every((r) => Number.isSafeInteger(r.id) && r.id > 0)) throw new EmptyImport("an import needs at least one record, each with a prospect id");
	const body = {
		data: {
			type: "import",
			attributes: { dupeMethod: "overwriteNoCreate", records: records.map((r) => ({ type: "prospect", id: r.id, attributes: r.attributes })) },
		},
	};
	const res = await outreachRequest(base, token, "POST", "/imports/actions/bulkUpsert", body, timeoutMs);
	return { res, imp: res.status >= 200 && res.status < 300 ? readImport(res) : null };
}

export async function getImport(base: string, token: string, id: number, timeoutMs: number) {
	const res = await outreachRequest(base, token, "GET", `/imports/${id}`, undefined, timeoutMs);
	return { res, imp: res.status === 200 ? readImport(res) : null };
}
