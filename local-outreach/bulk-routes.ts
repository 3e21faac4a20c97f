import type { Context, Hono } from "hono";
import { z } from "zod";
import { batchResource, itemResource } from "./batches.ts";
import { cancelBatch, itemsPage, judgeBulkModify, submitBatch } from "./bulk.ts";
import { quotaRefused, resourceOf, scopeMissing, type ApiEnv } from "./context.ts";
import { apiErrors, jsonApi } from "./errors.ts";
import type { World } from "./state.ts";

// The bulk API's routes under /api/v2. They sit behind the same checks as every API route (401 → 429 →
// injected faults → 415), so each bulk request, poll and items page counts 1 against the user's window; each
// then checks its scopes (403) before anything else (404, 422, 400).

const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 100;
const ID = /^[1-9]\d{0,14}$/;

const itemsQuerySchema = z.object({
	"filter[batch][id]": z.string().regex(ID, "must be a batch id"),
	"filter[failed]": z.enum(["true", "false"]).optional(),
	"page[size]": z
		.string()
		.regex(/^\d+$/, "must be a whole number")
		.transform(Number)
		.pipe(z.number().min(1).max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`))
		.optional(),
	"page[after]": z.string().regex(ID, "must be a batchItem id").optional(),
});

/** The query string of `c` with `changes` applied; brackets left readable, values encoded. */
function withQuery(c: Context, changes: Record<string, string>): string {
	const url = new URL(c.req.url);
	const params = new Map([...url.searchParams].map(([name, value]) => [name, value] as const));
	for (const [name, value] of Object.entries(changes)) params.set(name, value);
	const query = [...params].map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join("&");
	return `${url.origin}${url.pathname}?${query}`;
}

export function bulkRoutes(api: Hono<ApiEnv>, world: World): void {
	const origin = (c: Context) => new URL(c.req.url).origin;

	const batchOf = (c: Context<ApiEnv>) => resourceOf(c, world.bulk.batches, "batch");

	api.post("/batches/actions/prospectsBulkModify", async (c) => {
		const denied = scopeMissing(c, "batches", "write") ?? scopeMissing(c, "prospects", "write");
		if (denied) return denied;
		const verdict = judgeBulkModify(await c.req.text(), new URL(c.req.url).searchParams, world.bulk.settings.maxIds);
		if (!verdict.ok) return apiErrors(c, 422, verdict.errors);
		const now = Date.now();
		const outcome = submitBatch(world, c.get("user")!.id, verdict.request, now);
		if ("quotaExceeded" in outcome) return quotaRefused(c, world, outcome.quotaExceeded, now);
		return jsonApi(c, { data: batchResource(outcome.batch, origin(c)) });
	});

	api.get("/batches/:id", (c) => {
		const denied = scopeMissing(c, "batches", "read");
		if (denied) return denied;
		const batch = batchOf(c);
		if (batch instanceof Response) return batch;
		return jsonApi(c, { data: batchResource(batch, origin(c)) });
	});

	api.post("/batches/:id/actions/cancel", (c) => {
		const denied = scopeMissing(c, "batches", "write");
		if (denied) return denied;
		const batch = batchOf(c);
		if (batch instanceof Response) return batch;
		cancelBatch(world.bulk, batch, Date.now());
		return jsonApi(c, { data: batchResource(batch, origin(c)) });
	});

	// GET /batchItems?filter[batch][id]=7&filter[failed]=true&page[size]=100[&page[after]=<item id>]; the next
	// page's URL is in links.next while there is one.
	api.get("/batchItems", (c) => {
		const denied = scopeMissing(c, "batches", "read");
		if (denied) return denied;
		const parsed = itemsQuerySchema.safeParse(c.req.query());
		if (!parsed.success) {
			const errors = parsed.error.issues.map((issue) => {
				const parameter = String(issue.path[0] ?? "");
				return { id: "badRequest", title: "Bad Request", detail: `'${parameter}' ${issue.message}.`, source: { parameter } };
			});
			return apiErrors(c, 400, errors);
		}
		const query = parsed.data;
		const size = query["page[size]"] ?? DEFAULT_PAGE_SIZE;
		const batch = world.bulk.batches.get(Number(query["filter[batch][id]"]));
		const failed = query["filter[failed]"] === undefined ? null : query["filter[failed]"] === "true";
		const after = query["page[after]"] === undefined ? null : Number(query["page[after]"]);
		const page = batch ? itemsPage(batch, { failed, after, size }) : { indexes: [], more: false, count: 0 };
		const data = batch ? page.indexes.map((index) => itemResource(batch, index)) : [];
		const last = data.at(-1);
		const links = page.more && last ? { next: withQuery(c, { "page[size]": String(size), "page[after]": String(last.id) }) } : {};
		return jsonApi(c, { data, links, meta: { count: page.count } });
	});
}
