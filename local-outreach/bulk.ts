import { z } from "zod";
import { Applier, chargeRequest } from "./applier.ts";
import { pendingItems, type Batch, type BulkState } from "./batches.ts";
import { judgeDocument, validationError, type ApiError } from "./errors.ts";
import { ruleProblem } from "./rules.ts";
import { attributeValueProblem, isWritableAttribute } from "./schema.ts";
import { allProspectIds, findProspect, updateProspect, type World } from "./state.ts";

// Outreach's bulk modify, as the local Outreach carries it out: a request is judged (422 for anything wrong
// with it, size included), charged against the org's daily item quota, and becomes a batch that a background
// applier works through at `itemsPerSecond` for the whole org. Items are applied — and logged as writes —
// when the applier reaches them, not when the request arrives, so a client sees the delay and the ordering
// hazards the real thing has.

/** What a judged prospectsBulkModify asks for; `ids: null` means every prospect (no ids and no filter). */
export type BulkModify = { fieldName: string; fieldValue: unknown; ids: number[] | null };

export type BulkVerdict = { ok: true; request: BulkModify } | { ok: false; errors: ApiError[] };

// The OpenAPI's single-field form. Strict attributes, so the docs' other spelling ({"field","value"}) is a 422
// naming the stray member instead of a silent no-op.
const bodySchema = z.object({
	data: z.looseObject({
		attributes: z.strictObject({
			fieldName: z.string({ error: (issue) => (issue.input === undefined ? "'fieldName' is required" : "'fieldName' must be a string") }),
			// Any JSON value (required: zod reports a missing one as "nonoptional"); whether it suits the field is
			// the attribute list's call, below.
			fieldValue: z.unknown(),
			ids: z.array(z.number().int().positive(), { error: "'ids' must be an array of prospect ids" }).optional(),
		}),
	}),
});

const ID_FILTERS = ["filter[id]", "actionParams[filter][id]"];
const POSITIVE_ID = /^[1-9]\d{0,14}$/;

/** The ids of the request's filter (null when it has none), or the 422 errors of a filter it cannot take. */
function idFilter(query: URLSearchParams): { ids: number[] | null } | { errors: ApiError[] } {
	const given: [string, string][] = [];
	for (const [name, value] of query) {
		if (ID_FILTERS.includes(name)) given.push([name, value]);
		// Any other filter would be applied by Outreach; ignoring it here would turn it into "every prospect".
		else if (name.startsWith("filter[") || name.startsWith("actionParams[filter]"))
			return { errors: [validationError(`The local Outreach supports only the filter 'filter[id]' (got '${name}').`, { parameter: name })] };
	}
	if (given.length === 0) return { ids: null };
	if (given.length > 1) return { errors: [validationError(`Give the id filter once (got ${given.map(([name]) => name).join(", ")}).`, { parameter: given[1]![0] })] };
	const [name, value] = given[0]!;
	const parts = value.split(",").map((part) => part.trim());
	if (!parts.every((part) => POSITIVE_ID.test(part)))
		return { errors: [validationError(`'${name}' must be a comma-separated list of prospect ids (got '${value}').`, { parameter: name })] };
	return { ids: parts.map(Number) };
}

/**
 * Judges a prospectsBulkModify body and query: the first stage that finds problems answers them (body, then
 * field, then filter, then ids with a filter, then size), so a size 422 always means only the size is wrong.
 */
export function judgeBulkModify(text: string, query: URLSearchParams, maxIds: number): BulkVerdict {
	const parsed = judgeDocument(text, bodySchema, "bulk request");
	if (!parsed.ok) return parsed;
	const { fieldName, fieldValue, ids: bodyIds = [] } = parsed.document.data.attributes;
	const problem = attributeValueProblem(fieldName, fieldValue);
	if (problem) {
		const member = isWritableAttribute(fieldName) ? "fieldValue" : "fieldName";
		return { ok: false, errors: [validationError(`${problem}.`, { pointer: `/data/attributes/${member}` })] };
	}
	const filter = idFilter(query);
	if ("errors" in filter) return { ok: false, errors: filter.errors };
	// `"ids": []` names nothing: it counts as no ids, which (without a filter) is every prospect, as at Outreach.
	if (bodyIds.length > 0 && filter.ids)
		return { ok: false, errors: [validationError("Give either 'ids' or a filter, not both.", { pointer: "/data/attributes/ids" })] };
	const ids = bodyIds.length > 0 ? bodyIds : filter.ids;
	if (ids && ids.length > maxIds) {
		const source = bodyIds.length > 0 ? { pointer: "/data/attributes/ids" } : { parameter: "filter[id]" };
		return { ok: false, errors: [validationError(`Too many ids: a bulk action takes at most ${maxIds} ids (got ${ids.length}).`, source)] };
	}
	return { ok: true, request: { fieldName, fieldValue, ids } };
}

/** Creates the batch a judged request asks for, or answers the quota's 429 error (and creates nothing). */
export function submitBatch(world: World, userId: number, request: BulkModify, now: number): { batch: Batch } | { quotaExceeded: ApiError } {
	const bulk = world.bulk;
	if (request.ids === null) bulk.stats.unfilteredRequests += 1;
	const prospectIds = request.ids ?? allProspectIds(world);
	const quotaExceeded = chargeRequest(bulk, prospectIds.length, bulk.settings.dailyItemQuota, now);
	if (quotaExceeded) return { quotaExceeded };
	const batch: Batch = {
		id: bulk.nextBatchId++,
		userId,
		action: "prospectsBulkModify",
		fieldName: request.fieldName,
		fieldValue: request.fieldValue,
		prospectIds,
		firstItemId: bulk.nextItemId,
		applied: 0,
		failures: new Map(),
		failedIndexes: [],
		state: "pending",
		stalled: bulk.settings.stall,
		createdAt: now,
		startedAt: null,
		finishedAt: null,
		canceledAt: null,
		updatedAt: now,
	};
	bulk.nextItemId += prospectIds.length;
	bulk.batches.set(batch.id, batch);
	if (batch.stalled) {
		// Started and never progressing: what a client sees of a batch stuck on Outreach's side.
		batch.state = "processing";
		batch.startedAt = now;
	} else if (prospectIds.length === 0) {
		batch.state = "finished";
		batch.startedAt = batch.finishedAt = now;
	} else {
		const { itemsPerSecond, outOfOrder } = bulk.settings;
		bulk.applier ??= new Applier<Batch>({ perSecond: itemsPerSecond, outOfOrder }, (next, at) => applyNextItem(world, next, at));
		bulk.applier.add(batch);
	}
	return { batch };
}

/** Stops the batch's unapplied items (they become cancelled, not failed); applied ones stay. A final batch stays as it is. */
export function cancelBatch(bulk: BulkState, batch: Batch, now: number): void {
	if (batch.state === "finished" || batch.state === "cancelled") return;
	batch.state = "cancelled";
	batch.canceledAt = now;
	batch.updatedAt = now;
	bulk.applier?.remove(batch);
}

/** Outreach's batchItem `info` holds at most 767 characters. */
const INFO_MAX = 767;

/** Applies the batch's next item: writes the value, or records why that prospect could not take it. True when the batch is done. */
function applyNextItem(world: World, batch: Batch, now: number): boolean {
	const index = batch.applied;
	const prospectId = batch.prospectIds[index]!;
	const rules = world.fieldRules;
	const rule = Object.hasOwn(rules, batch.fieldName) ? rules[batch.fieldName] : undefined;
	// The same rule check a PATCH gets; the value's type was already checked when the request was judged.
	const ruleBroken = rule ? ruleProblem(batch.fieldName, rule, batch.fieldValue) : null;
	const problem = findProspect(world, prospectId) === undefined ? "not found" : ruleBroken && `${ruleBroken}.`;
	if (problem) {
		batch.failures.set(index, problem.slice(0, INFO_MAX));
		batch.failedIndexes.push(index);
	} else {
		updateProspect(world, prospectId, { [batch.fieldName]: batch.fieldValue }, { via: "bulk", batchId: batch.id });
		world.bulk.stats.items += 1;
	}
	batch.applied += 1;
	batch.updatedAt = now;
	if (batch.state === "pending") {
		batch.state = "processing";
		batch.startedAt = now;
	}
	if (pendingItems(batch) > 0) return false;
	batch.state = "finished";
	batch.finishedAt = now;
	return true;
}

export type ItemsQuery = { failed: boolean | null; after: number | null; size: number };

/** The indexes of one page of the batch's items (ascending item id), and whether another page follows. */
export function itemsPage(batch: Batch, query: ItemsQuery): { indexes: number[]; more: boolean; count: number } {
	const total = batch.prospectIds.length;
	const start = query.after === null ? 0 : Math.max(0, query.after - batch.firstItemId + 1);
	const indexes: number[] = [];
	if (query.failed === true) {
		const failed = batch.failedIndexes;
		let low = 0;
		let high = failed.length;
		while (low < high) {
			const mid = (low + high) >>> 1;
			if (failed[mid]! < start) low = mid + 1;
			else high = mid;
		}
		const page = failed.slice(low, low + query.size + 1);
		return { indexes: page.slice(0, query.size), more: page.length > query.size, count: failed.length };
	}
	for (let i = start; i < total && indexes.length <= query.size; i++) {
		if (query.failed === false && batch.failures.has(i)) continue;
		indexes.push(i);
	}
	const count = query.failed === false ? total - batch.failures.size : total;
	return { indexes: indexes.slice(0, query.size), more: indexes.length > query.size, count };
}
