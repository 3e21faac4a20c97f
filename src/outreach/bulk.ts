import { z } from "zod";
import { outreachRequest, type OutreachResponse } from "./api";

/**
 * Outreach's bulk API (reference/outreach-bulk.md): `prospectsBulkModify` sets one field to one value on a list
 * of prospects in one asynchronous batch; `GET /batches/:id` tells how it goes; `cancel` stops what is not
 * applied yet; `GET /batchItems` lists its items (the failed ones with Outreach's `info`). Without ids and
 * without a filter a bulk action touches EVERY prospect: `bulkModify` refuses to send such a request.
 */

/** A batch as Outreach answers it. `state` has no published list: anything but finished/cancelled is running. */
export const Batch = z.object({
	id: z.coerce.number().int(),
	state: z.string(),
	total: z.number().int().nonnegative(),
	pending: z.number().int().nonnegative(),
	failures: z.number().int().nonnegative(),
	// Outreach's own times (ISO 8601), read to learn its pace; never required.
	createdAt: z.string().nullish().catch(null),
	startedAt: z.string().nullish().catch(null),
	finishedAt: z.string().nullish().catch(null),
	updatedAt: z.string().nullish().catch(null),
});
export type Batch = z.infer<typeof Batch>;

const BatchDocument = z.object({ data: z.object({ id: z.union([z.string(), z.number()]), attributes: z.looseObject({}) }) });

function readBatch(res: OutreachResponse): Batch | null {
	const doc = BatchDocument.safeParse(res.data);
	if (!doc.success) return null;
	const parsed = Batch.safeParse({ ...doc.data.data.attributes, id: doc.data.data.id });
	return parsed.success ? parsed.data : null;
}

/** Whether a batch has stopped for good (only then are its items' outcomes final). */
export function batchEnded(b: Pick<Batch, "state">): boolean {
	return b.state === "finished" || b.state === "cancelled" || b.state === "canceled";
}

export class EmptyBulkRequest extends Error {}

/**
 * Starts a bulk modify of `fieldName` to `fieldValue` on exactly `ids`. Never sends without an explicit,
 * non-empty id list: Outreach reads "no ids" as every prospect.
 */
export function bulkModify(base: string, token: string, fieldName: string, fieldValue: unknown, ids: number[], timeoutMs: number) {
	if (ids.length === 0 || !ids.every((id) => Number.isSafeInteger(id) && id > 0)) throw new EmptyBulkRequest("a bulk request needs an explicit, non-empty list of prospect ids");
	return outreachRequest(base, token, "POST", "/batches/actions/prospectsBulkModify", { data: { attributes: { fieldName, fieldValue, ids } } }, timeoutMs).then((res) => ({
		res,
		batch: res.status >= 200 && res.status < 300 ? readBatch(res) : null,
	}));
}

export function getBatch(base: string, token: string, id: number, timeoutMs: number) {
	return outreachRequest(base, token, "GET", `/batches/${id}`, undefined, timeoutMs).then((res) => ({ res, batch: res.status === 200 ? readBatch(res) : null }));
}

export function cancelBatch(base: string, token: string, id: number, timeoutMs: number) {
	return outreachRequest(base, token, "POST", `/batches/${id}/actions/cancel`, { data: { type: "batch", id } }, timeoutMs).then((res) => ({
		res,
		batch: res.status === 200 ? readBatch(res) : null,
	}));
}

const BatchItem = z.object({
	id: z.union([z.string(), z.number()]),
	attributes: z.looseObject({ prospectId: z.coerce.number().int(), state: z.string(), failed: z.boolean(), info: z.string().nullish() }),
});
const ItemsPage = z.object({ data: z.array(BatchItem), links: z.looseObject({ next: z.string().optional() }).optional() });

export type BatchItem = { prospectId: number; state: string; failed: boolean; info: string | null };

/** The largest page Outreach serves. */
const PAGE_SIZE = 1000;

/**
 * One page of a batch's items (`failedOnly`: only the failed ones); `after` is the cursor of the page before
 * (from `next`). Each page is one call.
 */
export async function batchItems(base: string, token: string, batchId: number, opts: { failedOnly: boolean; after?: string }, timeoutMs: number) {
	const query = new URLSearchParams({ "filter[batch][id]": String(batchId), "page[size]": String(PAGE_SIZE) });
	if (opts.failedOnly) query.set("filter[failed]", "true");
	if (opts.after) query.set("page[after]", opts.after);
	const res = await outreachRequest(base, token, "GET", `/batchItems?${query}`, undefined, timeoutMs);
	const page = res.status === 200 ? ItemsPage.safeParse(res.data) : null;
	if (!page?.success) return { res, items: null, next: undefined };
	const items: BatchItem[] = page.data.data.map((i) => ({ prospectId: i.attributes.prospectId, state: i.attributes.state, failed: i.attributes.failed, info: i.attributes.info ?? null }));
	const nextUrl = page.data.links?.next;
	const next = nextUrl && URL.canParse(nextUrl) ? (new URL(nextUrl).searchParams.get("page[after]") ?? undefined) : undefined;
	return { res, items, next };
}
