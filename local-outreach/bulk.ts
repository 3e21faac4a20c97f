import { z } from "zod";
import { pendingItems, stopApplier, type Batch, type BulkState } from "./batches.ts";
import type { ApiError } from "./errors.ts";
import { withThousands } from "./limits.ts";
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

function validationError(detail: string, source?: ApiError["source"]): ApiError {
	return { id: "validationError", title: "Validation Error", detail, ...(source ? { source } : {}) };
}

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
	let body: unknown;
	try {
		body = JSON.parse(text);
	} catch {
		return { ok: false, errors: [validationError("The request body is not valid JSON.")] };
	}
	const parsed = bodySchema.safeParse(body);
	if (!parsed.success) {
		const errors = parsed.error.issues.map((issue) => {
			const missing = issue.code === "invalid_type" && issue.expected === "nonoptional";
			const message = missing ? `'${String(issue.path.at(-1))}' is required` : issue.message;
			return validationError(`Malformed bulk request: ${message}.`, { pointer: issue.path.map((part) => `/${String(part)}`).join("") });
		});
		return { ok: false, errors };
	}
	const { fieldName, fieldValue, ids: bodyIds = [] } = parsed.data.data.attributes;
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

const DAY_MS = 24 * 3600 * 1000;

/** Charges `items` against the org's daily item quota, or answers the 429 error when they do not fit. */
function chargeQuota(bulk: BulkState, items: number, now: number): ApiError | null {
	// Like the hourly limit, the day opens at the first request after the previous one ended (no midnight
	// surprises for a test that runs across it).
	if (!bulk.quota || now >= bulk.quota.start + DAY_MS) bulk.quota = { start: now, used: 0 };
	const limit = bulk.settings.dailyItemQuota;
	const left = Math.max(0, limit - bulk.quota.used);
	if (items <= left) {
		bulk.quota.used += items;
		return null;
	}
	return {
		id: "bulkQuotaExceeded",
		title: "Bulk Quota Exceeded",
		detail:
			`The daily bulk quota is exhausted: this request has ${withThousands(items)} items, and ${withThousands(left)} of the org's ` +
			`${withThousands(limit)} bulk items a day are left until ${new Date(bulk.quota.start + DAY_MS).toISOString()}.`,
	};
}

/** Creates the batch a judged request asks for, or answers the quota's 429 error (and creates nothing). */
export function submitBatch(world: World, userId: number, request: BulkModify, now: number): { batch: Batch } | { quotaExceeded: ApiError } {
	const bulk = world.bulk;
	bulk.stats.requests += 1;
	if (request.ids === null) bulk.stats.unfilteredRequests += 1;
	const prospectIds = request.ids ?? allProspectIds(world);
	const quotaExceeded = chargeQuota(bulk, prospectIds.length, now);
	if (quotaExceeded) {
		bulk.stats.quota429 += 1;
		return { quotaExceeded };
	}
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
		bulk.runnable.push(batch);
		startApplier(world);
	}
	return { batch };
}

/** Stops the batch's unapplied items (they become cancelled, not failed); applied ones stay. A final batch stays as it is. */
export function cancelBatch(bulk: BulkState, batch: Batch, now: number): void {
	if (batch.state === "finished" || batch.state === "cancelled") return;
	batch.state = "cancelled";
	batch.canceledAt = now;
	batch.updatedAt = now;
	retire(bulk, batch);
}

function retire(bulk: BulkState, batch: Batch): void {
	const at = bulk.runnable.indexOf(batch);
	if (at >= 0) bulk.runnable.splice(at, 1);
	if (bulk.runnable.length === 0) stopApplier(bulk);
}

const TICK_MS = 20;
/** Outreach's batchItem `info` holds at most 767 characters. */
const INFO_MAX = 767;

/** Runs the applier while any batch has items left; it stops itself when none has. */
function startApplier(world: World): void {
	const bulk = world.bulk;
	if (bulk.applier) return;
	const timer = setInterval(() => advance(world, bulk, Date.now()), TICK_MS);
	// Never what keeps a process alive: the server does that, and close() stops the timer anyway.
	timer.unref();
	bulk.applier = { timer, lastTick: Date.now(), credit: 0 };
}

/**
 * Applies as many items as the org's rate allows since the last tick. With `outOfOrder` each item goes to a
 * runnable batch picked at random (seeded), so batches progress side by side and a later, smaller batch on
 * the same field usually finishes before an earlier one; without it, strictly the oldest batch first.
 */
function advance(world: World, bulk: BulkState, now: number): void {
	const applier = bulk.applier;
	if (!applier || world.bulk !== bulk) return;
	const rate = bulk.settings.itemsPerSecond;
	// A second's worth at most, so an event loop that was busy catches up without an unbounded burst.
	applier.credit = Math.min(applier.credit + ((now - applier.lastTick) * rate) / 1000, Math.max(1, rate));
	applier.lastTick = now;
	while (applier.credit >= 1 && bulk.runnable.length > 0) {
		const at = bulk.settings.outOfOrder ? Math.floor(bulk.random() * bulk.runnable.length) : 0;
		applier.credit -= 1;
		applyNextItem(world, bulk.runnable[at]!, now);
	}
}

/** Applies the batch's next item: writes the value, or records why that prospect could not take it. */
function applyNextItem(world: World, batch: Batch, now: number): void {
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
	if (pendingItems(batch) === 0) {
		batch.state = "finished";
		batch.finishedAt = now;
		retire(world.bulk, batch);
	}
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
