import { Hono } from "hono";
import { z } from "zod";
import { ledgerStub } from "../ledger/ledger";
import { ApiError } from "../platform/errors";
import { log } from "../platform/log";
import { jsonBody } from "../http/validation";
import { loadDestination } from "./destinations";
import { noteAudit } from "./permissions";

/**
 * One prospect of one destination: what is held for it (`GET …/prospects/:prospectId`, the trace support reads
 * instead of logs) and its erasure (`POST …/erasures`). Erasure removes this product's copy only: the
 * prospect's record in Outreach is Outreach's to erase.
 */

/** Outreach prospect ids are positive integers; AEP sends them as text, so both are accepted. */
const ProspectId = z.union([z.number(), z.string().trim().regex(/^\d{1,15}$/, "must be an Outreach prospect id (digits)")]).transform(Number).pipe(
	z.number().int("must be a whole number").positive("must be a positive Outreach prospect id").max(Number.MAX_SAFE_INTEGER),
);

const ErasureBody = z.strictObject({
	prospectIds: z.array(ProspectId).min(1, "name at least one prospect id").max(1000, "at most 1,000 prospect ids per request; send several requests"),
});

export const prospectsApi = new Hono<{ Bindings: Env }>()
	.get("/:id/prospects/:prospectId", loadDestination, async (c) => {
		const raw = c.req.param("prospectId");
		const parsed = ProspectId.safeParse(raw);
		if (!parsed.success) throw new ApiError("bad_request", `'${raw.slice(0, 40)}' is not an Outreach prospect id: use the prospect's numeric id, as in Outreach's URL.`);
		const id = c.var.destination.id;
		const trace = await ledgerStub(c.env, id).prospectTrace(id, parsed.data);
		if (!trace)
			throw new ApiError(
				"not_found",
				`Nothing is held for prospect ${parsed.data} on destination '${id}': no update was received for it within RETENTION_DAYS, or it was erased.`,
			);
		return c.json(trace);
	})
	.post("/:id/erasures", loadDestination, jsonBody(ErasureBody), async (c) => {
		const prospectIds = [...new Set(c.req.valid("json").prospectIds)];
		const id = c.var.destination.id;
		const removed = await ledgerStub(c.env, id).eraseProspects(id, prospectIds);
		// Ids and counts only: the audit log never holds a value.
		log("info", "prospects_erased", { destinationId: id, prospects: prospectIds.length });
		noteAudit(c, {
			summary: `erased prospects ${prospectIds.join(", ")}: ${removed.updates.pending + removed.updates.held} pending/held, ${removed.updates.delivered + removed.updates.failed + removed.updates.superseded} finished updates, ${removed.failures} failures, ${removed.versions} versions, ${removed.events} events`,
		});
		return c.json({ erased: removed, note: "This product's copy is erased. The prospects' records in Outreach are Outreach's to erase." }, 202);
	});
