import type { Context, Hono } from "hono";
import { judgeBulkUpsert, submitImport } from "./bulk-upsert.ts";
import { quotaRefused, resourceOf, scopeMissing, type ApiEnv } from "./context.ts";
import { apiErrors, jsonApi } from "./errors.ts";
import { importResource } from "./imports.ts";
import type { World } from "./state.ts";

// The imports' routes under /api/v2. They sit behind the same checks as every API route (401 → 429 → injected
// faults → 415), so each bulkUpsert and each poll counts 1 against the user's window; each then checks its
// scopes (403) before anything else (404, 422).
//
// Scopes: Outreach asks bulk clients for the action's own scopes "and the targeted resources `write` scopes,
// e.g. `prospects.write`" (reference/outreach-bulk.md), without saying which route needs which. The local
// Outreach takes the strict reading for imports — `prospects.write` on the poll as well as on the upsert — so a
// client that passes here holds whatever Outreach may ask.

export function importRoutes(api: Hono<ApiEnv>, world: World): void {
	const resource = (c: Context, imp: Parameters<typeof importResource>[0]) =>
		jsonApi(c, { data: importResource(imp, world.imports.settings.failureDetail, new URL(c.req.url).origin) });

	api.post("/imports/actions/bulkUpsert", async (c) => {
		const denied = scopeMissing(c, "imports", "write") ?? scopeMissing(c, "prospects", "write");
		if (denied) return denied;
		const verdict = judgeBulkUpsert(await c.req.text(), world.imports.settings.maxRecords);
		if (!verdict.ok) return apiErrors(c, 422, verdict.errors);
		const now = Date.now();
		const outcome = submitImport(world, c.get("user")!.id, verdict.request, now);
		if ("quotaExceeded" in outcome) return quotaRefused(c, world, outcome.quotaExceeded, now);
		return resource(c, outcome.imp);
	});

	api.get("/imports/:id", (c) => {
		const denied = scopeMissing(c, "imports", "read") ?? scopeMissing(c, "prospects", "write");
		if (denied) return denied;
		const imp = resourceOf(c, world.imports.imports, "import");
		if (imp instanceof Response) return imp;
		return resource(c, imp);
	});
}
