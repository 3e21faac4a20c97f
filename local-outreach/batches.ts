import { z } from "zod";
import { DailyQuota, type Applier } from "./applier.ts";
import { isoTime as iso } from "./errors.ts";

// The bulk API's batches as the local Outreach keeps them, and how they read as JSON:API resources. What
// Outreach does not publish about bulk (reference/outreach-bulk.md) is a setting here, whose default is the
// pessimistic choice, so the product is tested against the worst plausible Outreach.

export const bulkSettingsSchema = z.strictObject({
	/** Ids one bulk request may name (in `ids` or in `filter[id]`); more → 422 for size. */
	maxIds: z.number().int().positive().optional(),
	/** How fast batches are applied, for the whole org (all users' batches together). */
	itemsPerSecond: z.number().positive().max(10_000_000).optional(),
	/** Whether two runnable batches may finish in either order (true) or strictly in creation order. */
	outOfOrder: z.boolean().optional(),
	/** New batches go `processing` and never apply anything, so a client's leases and cancels get tested. */
	stall: z.boolean().optional(),
	/** Items per org per day; a request whose items would go past what is left answers 429. */
	dailyItemQuota: z.number().int().nonnegative().optional(),
});

export type BulkSettings = Required<z.infer<typeof bulkSettingsSchema>>;

export const defaultBulkSettings: BulkSettings = {
	maxIds: 10_000,
	// About 72 items per call-slot of the real 10,000 calls an hour.
	itemsPerSecond: 200,
	outOfOrder: true,
	stall: false,
	dailyItemQuota: 5_000_000,
};

/** `finished` and `cancelled` are final; a client must treat any other state as not finished. */
export type BatchState = "pending" | "processing" | "finished" | "cancelled";
export type ItemState = "pending" | "finished" | "failed" | "cancelled";

/**
 * One prospectsBulkModify request. Its items are kept compactly — item i is prospect `prospectIds[i]`, has
 * id `firstItemId + i`, and is applied once `applied > i` — because a back-fill creates hundreds of thousands.
 */
export type Batch = {
	id: number;
	userId: number;
	action: "prospectsBulkModify";
	fieldName: string;
	fieldValue: unknown;
	prospectIds: number[];
	firstItemId: number;
	/** Items 0…applied-1 are done (written or failed), in order. */
	applied: number;
	/** Why item i failed, for the failed ones; `failedIndexes` lists them ascending (they fail in order). */
	failures: Map<number, string>;
	failedIndexes: number[];
	state: BatchState;
	stalled: boolean;
	createdAt: number;
	startedAt: number | null;
	finishedAt: number | null;
	canceledAt: number | null;
	updatedAt: number;
};

export type BulkState = {
	settings: BulkSettings;
	batches: Map<number, Batch>;
	nextBatchId: number;
	nextItemId: number;
	/** The org's daily item quota. */
	quota: DailyQuota;
	/** Applies the batches with items left, at `itemsPerSecond` for the org; made with the first batch. */
	applier: Applier<Batch> | null;
	stats: {
		/** Well-formed, authorized bulk modify requests (those that created a batch, and those over the quota). */
		requests: number;
		/** Items written to a prospect (failed and cancelled items are not). */
		items: number;
		/** Requests that named neither ids nor a filter: they target every prospect. */
		unfilteredRequests: number;
		quota429: number;
	};
};

export function newBulkState(settings: BulkSettings): BulkState {
	return {
		settings,
		batches: new Map(),
		nextBatchId: 1,
		nextItemId: 1,
		quota: new DailyQuota({ id: "bulkQuotaExceeded", title: "Bulk Quota Exceeded", kind: "bulk", units: "items" }),
		applier: null,
		stats: { requests: 0, items: 0, unfilteredRequests: 0, quota429: 0 },
	};
}

export function pendingItems(batch: Batch): number {
	return batch.state === "cancelled" ? 0 : batch.prospectIds.length - batch.applied;
}

export function itemState(batch: Batch, index: number): ItemState {
	if (index < batch.applied) return batch.failures.has(index) ? "failed" : "finished";
	return batch.state === "cancelled" ? "cancelled" : "pending";
}

/** The batch as JSON:API resource, with the attributes of Outreach's published `batch` schema that apply here. */
export function batchResource(batch: Batch, origin: string) {
	return {
		type: "batch",
		id: batch.id,
		attributes: {
			action: batch.action,
			state: batch.state,
			total: batch.prospectIds.length,
			pending: pendingItems(batch),
			failures: batch.failures.size,
			payload: { fieldName: batch.fieldName, fieldValue: batch.fieldValue },
			createdAt: iso(batch.createdAt),
			startedAt: iso(batch.startedAt),
			finishedAt: iso(batch.finishedAt),
			canceledAt: iso(batch.canceledAt),
			updatedAt: iso(batch.updatedAt),
		},
		links: { self: `${origin}/api/v2/batches/${batch.id}` },
	};
}

/** Item `index` of the batch as a JSON:API `batchItem` resource. */
export function itemResource(batch: Batch, index: number) {
	const state = itemState(batch, index);
	return {
		type: "batchItem",
		id: batch.firstItemId + index,
		attributes: {
			batchId: batch.id,
			prospectId: batch.prospectIds[index]!,
			state,
			failed: state === "failed",
			info: batch.failures.get(index) ?? null,
			createdAt: iso(batch.createdAt),
		},
		relationships: { batch: { data: { type: "batch", id: batch.id } } },
	};
}
