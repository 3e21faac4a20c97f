import { Hono } from "hono";
import { z } from "zod";
import { config } from "../platform/config";
import { destinationStore } from "../destinations/records";
import { ApiError } from "../platform/errors";
import { bulkPath } from "../gate/path";
import { backlogEta, type BudgetStatus } from "../gate/budget";
import { gateName, gateStub } from "../gate/gate";
import { ledgerStub, REPLAY_PAGE } from "../ledger/ledger";
import { log } from "../platform/log";
import { loadDestination } from "./destinations";
import { noteAudit } from "./permissions";
import { jsonBody } from "../http/validation";

/** Pages (of REPLAY_PAGE) replayed per request; what is left stays listed for the next replay. */
const MAX_REPLAY_PAGES = 40;

const ReplayBody = z.strictObject({ ids: z.array(z.string().min(1).max(256, "must be at most 256 characters (an update id)")).max(10_000).optional() });

/** Activity, failures and replay of a destination: GET …/activity, GET …/failures, POST …/failures/replay. */
export const activityApi = new Hono<{ Bindings: Env }>()
	.get("/:id/activity", loadDestination, async (c) => {
		const id = c.var.destination.id;
		const cfg = config(c.env);
		const connection = await destinationStore(c.env).getConnection(id);
		const gate = connection ? gateStub(c.env, gateName(connection.user)) : null;
		const idle: BudgetStatus = { limit: cfg.OUTREACH_RATE_LIMIT, windowSeconds: cfg.OUTREACH_RATE_WINDOW_SECONDS, usedInWindow: 0, pausedUntil: null, reserved: 0, lastSlotAt: null };
		const [ledger, budget, sharing, bulk] = await Promise.all([
			ledgerStub(c.env, id).activity(),
			gate ? gate.budgetStatus() : idle,
			gate ? gate.destinations() : [],
			gate && c.var.destination.bulkApi ? gate.bulkStatus(id) : null,
		]);
		// The backlog is the Outreach user's: every destination it connected shares the budget. Held work is left out.
		const others = sharing.filter((d) => d !== id);
		const waiting = ledger.waiting + (await Promise.all(others.map((d) => ledgerStub(c.env, d).waiting()))).reduce((a, b) => a + b, 0);
		const etaAt = connection?.status === "connected" ? backlogEta(budget, waiting, Date.now()) : null;
		return c.json({
			totals: ledger.totals,
			segments: ledger.segments,
			aepAudiences: ledger.aepAudiences,
			hours: ledger.hours,
			budget: {
				limit: budget.limit,
				windowSeconds: budget.windowSeconds,
				usedInWindow: budget.usedInWindow,
				pausedUntil: budget.pausedUntil === null ? null : new Date(budget.pausedUntil).toISOString(),
				oldestPendingAt: ledger.oldestPendingAt,
			},
			delivery: bulk?.delivery ?? bulkPath(c.var.destination, connection),
			backlog: {
				pending: waiting,
				callsPerHour: Math.round((budget.limit * 3600) / budget.windowSeconds),
				etaAt: etaAt === null ? null : new Date(etaAt).toISOString(),
			},
			recentErrors: ledger.recentErrors,
		});
	})
	.get("/:id/failures", loadDestination, async (c) => {
		const id = c.var.destination.id;
		return c.json({ failures: await ledgerStub(c.env, id).failures() });
	})
	/**
	 * Replays failures: re-maps each from its stored source data with the destination's *current* mapping,
	 * keeping its original version, so fixing a mapping and replaying works and never overwrites newer data.
	 */
	.post("/:id/failures/replay", loadDestination, jsonBody(ReplayBody), async (c) => {
		const id = c.var.destination.id;
		const ledger = ledgerStub(c.env, id);
		if (!(await ledger.mapping(id))) throw new ApiError("conflict", "This destination has no mapping; PUT one before replaying failures.");
		const ids = c.req.valid("json").ids ?? [];
		const startedAt = Date.now();
		let replayed = 0;
		let unmappableCount = 0;
		// Page by page, so "replay all" after a bad mapping failed thousands stays within one request's limits.
		for (let page = 0; page < MAX_REPLAY_PAGES; page++) {
			const done = await ledger.replay(id, ids.slice(page * REPLAY_PAGE, (page + 1) * REPLAY_PAGE), startedAt);
			replayed += done.replayed;
			unmappableCount += done.unmappable;
			if (!done.more) break;
		}
		log("info", "failures_replayed", { destinationId: id, replayed, unmappable: unmappableCount });
		noteAudit(c, { summary: `failures replayed: ${ids.length ? `${ids.length} chosen` : "all"}, ${replayed} handed back to delivery, ${unmappableCount} not mappable` });
		return c.json({ replayed });
	});
