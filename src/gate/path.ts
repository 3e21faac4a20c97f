import type { ConnectionRecord, DestinationRecord } from "../destinations/records";
import { BULK_SCOPES, IMPORT_SCOPES } from "../outreach/oauth";

/**
 * Which way a destination's writes go — one PATCH per prospect, or Outreach's bulk paths (imports for records
 * with attributes, the bulk API's modify for segment statuses) — and why: the one set of rules delivery follows
 * and the Activity page shows.
 *
 * - What a destination *may* use (`bulkWays`): its bulk switch, its grant's scopes, and fallbacks after Outreach
 *   refused a bulk path or its quota ran out.
 * - What it *does* use now (`pathForBacklog`): chosen by the backlog of its Outreach user. PATCH costs one call
 *   an update and lands in about a second; bulk costs a few calls for a thousand updates but lands after
 *   Outreach's background work. So PATCH while the waiting work drains within the current window, bulk when it
 *   does not.
 * - When a bulk group goes (`groupReady`): as soon as it is full, or has stopped filling; while it fills, not
 *   before Outreach's engine is about done with our earlier jobs; never after a fixed share of the window.
 */
export type DeliveryPath = { path: "patch" | "bulk"; reason: string };

export type BulkFallback = { reason: string; until: number };

/** The bulk paths a destination may use now; `reason` says why the ones it may not are off. */
export type BulkWays = { modify: boolean; imports: boolean; reason: string };

function granted(scope: string | undefined, needed: readonly string[]): boolean {
	const have = new Set((scope ?? "").split(/\s+/));
	return needed.every((s) => have.has(s));
}

export function hasBulkScopes(scope: string | undefined): boolean {
	return granted(scope, BULK_SCOPES);
}

const until = (f: BulkFallback) => `until ${new Date(f.until).toISOString().slice(0, 16).replace("T", " ")} UTC`;

export function bulkWays(
	destination: Pick<DestinationRecord, "bulkApi">,
	connection: Pick<ConnectionRecord, "status" | "scope"> | null,
	fallback: { modify: BulkFallback | null; imports: BulkFallback | null } = { modify: null, imports: null },
): BulkWays {
	if (!destination.bulkApi) return { modify: false, imports: false, reason: "Outreach's bulk paths are off for this destination: every update goes by PATCH." };
	if (!connection || connection.status !== "connected") return { modify: false, imports: false, reason: "Not connected to Outreach." };
	const why: string[] = [];
	let modify = hasBulkScopes(connection.scope);
	let imports = granted(connection.scope, IMPORT_SCOPES);
	if (!modify) why.push(`The Outreach connection lacks the ${BULK_SCOPES.join(" and ")} scopes the bulk API needs: reconnect to grant them.`);
	if (!imports) why.push(`The Outreach connection lacks the ${IMPORT_SCOPES.join(" and ")} scopes imports need: reconnect to grant them.`);
	if (modify && fallback.modify) (modify = false), why.push(`${fallback.modify.reason} (${until(fallback.modify)}).`);
	if (imports && fallback.imports) (imports = false), why.push(`${fallback.imports.reason} (${until(fallback.imports)}).`);
	return { modify, imports, reason: why.join(" ") };
}

/** The path a destination's writes would take with no backlog information (the Activity page before any delivery). */
export function bulkPath(
	destination: Pick<DestinationRecord, "bulkApi">,
	connection: Pick<ConnectionRecord, "status" | "scope"> | null,
	fallback: { modify: BulkFallback | null; imports: BulkFallback | null } = { modify: null, imports: null },
): DeliveryPath {
	const ways = bulkWays(destination, connection, fallback);
	if (!ways.modify && !ways.imports) return { path: "patch", reason: `${ways.reason} Until then every update goes by PATCH.` };
	return { path: "patch", reason: `Nothing waits: updates go by PATCH while the backlog drains within the window, and in bulk when it does not.${ways.reason ? ` ${ways.reason}` : ""}` };
}

/** An update may go in bulk when some bulk path carries every one of its fields. */
export function bulkCarries(ways: BulkWays, segmentOnly: boolean): "modify" | "import" | null {
	if (segmentOnly && ways.modify) return "modify";
	if (ways.imports) return "import";
	return null;
}

/**
 * The work of one Outreach user as the gate sees it when updates are offered: `offered` the updates offered
 * now, `waiting` those already waiting to go in bulk, `reserved` the budget slots deferred PATCHes hold,
 * `arrivingPerWindow` the updates that arrived over the last window (new ones only), against the user's `limit`.
 */
export type Backlog = { offered: number; waiting: number; reserved: number; arrivingPerWindow: number; limit: number };


/**
 * PATCH while the waiting work drains within a window from now, bulk when it does not. The budget is a sliding
 * window: whatever was spent in the last window ages out over the next one, so a window from now the whole
 * limit is there to grant. The waiting work drains in it when it fits the limit — and when updates do not
 * arrive faster than PATCH keeps up with, or the window would fill behind them.
 */
export function pathForBacklog(b: Backlog): DeliveryPath {
	const waiting = b.offered + b.waiting + b.reserved;
	// Arriving faster than the limit, a queue builds that only bulk clears, however small each offer is.
	const fast = b.arrivingPerWindow > b.limit;
	if (waiting <= b.limit && !fast)
		return { path: "patch", reason: `${waiting} update(s) wait for ${b.limit} calls a window: PATCH drains them within the window, one call each.` };
	const pace = fast ? `about ${Math.round(b.arrivingPerWindow)} arrive per window` : `${waiting} update(s) wait`;
	return {
		path: "bulk",
		reason: `${pace} against ${b.limit} calls a window: PATCH cannot drain them within the window, so they go in bulk (records with attributes by Outreach's imports, segment statuses by its bulk API).`,
	};
}

/** How long a bulk group may wait to fill, at most: a minute's share of the window, between 1.5 s and 30 s. */
export function gatherMs(windowSeconds: number): number {
	return Math.max(1_500, Math.min(30_000, (windowSeconds * 1000) / 120));
}

/** A bulk group that stopped receiving writes this long ago has stopped filling. */
export const FILL_QUIET_MS = 1_500;

/** How long before the engine should be free a held group goes: its request's turnaround, so the engine does not idle. */
export const ENGINE_LEAD_MS = 500;

/**
 * A group this large goes even while the engine is busy: a request and a look for a thousand writes is 0.2 % of
 * a call each, and waiting for more would only delay its writes — and, one field's group after another, the
 * other fields of the same prospects.
 */
export const ENOUGH_TO_GO = 1_000;

/**
 * When a bulk group may go: now when it is full, has stopped filling, or has gathered as long as it may;
 * otherwise the moment one of these becomes true. While our own earlier jobs keep Outreach's engine busy
 * (`engine.freeAt`, ./engine.ts), a small group still filling keeps gathering until the engine is about free —
 * sent sooner, it would only wait behind them in Outreach, locked and looked at — but never past
 * `engine.holdUntil`, nor once it has ENOUGH_TO_GO writes.
 */
export function groupReady(
	group: { size: number; max: number; oldestAt: number; newestAt: number },
	now: number,
	windowSeconds: number,
	engine?: { freeAt: number; holdUntil: number },
): true | number {
	if (group.size >= group.max) return true;
	const quietAt = group.newestAt + FILL_QUIET_MS;
	let capAt = group.oldestAt + gatherMs(windowSeconds);
	if (engine && group.size < ENOUGH_TO_GO) capAt = Math.max(capAt, Math.min(engine.freeAt - ENGINE_LEAD_MS, engine.holdUntil));
	const at = Math.min(quietAt, capAt);
	return at <= now ? true : at;
}
