import type { ConnectionRecord, DestinationRecord } from "../destinations/records";
import type { BulkFallback } from "./bulk";
import { BULK_SCOPES } from "../outreach/oauth";

/**
 * Which way a destination's segment statuses go — Outreach's bulk API or one PATCH per prospect — and why: the
 * one rule delivery follows and the Activity page shows. Attributes always go by PATCH.
 */
export type DeliveryPath = { path: "patch" | "bulk"; reason: string };

export function hasBulkScopes(scope: string | undefined): boolean {
	const granted = new Set((scope ?? "").split(/\s+/));
	return BULK_SCOPES.every((s) => granted.has(s));
}

export function bulkPath(
	destination: Pick<DestinationRecord, "bulkApi">,
	connection: Pick<ConnectionRecord, "status" | "scope"> | null,
	fallback: BulkFallback | null = null,
): DeliveryPath {
	if (!destination.bulkApi) return { path: "patch", reason: "Outreach's bulk API is off for this destination: every update goes by PATCH." };
	if (!connection || connection.status !== "connected") return { path: "patch", reason: "Not connected to Outreach." };
	if (!hasBulkScopes(connection.scope))
		return {
			path: "patch",
			reason: `The Outreach connection lacks the ${BULK_SCOPES.join(" and ")} scopes the bulk API needs: reconnect to grant them. Until then every update goes by PATCH.`,
		};
	if (fallback) return { path: "patch", reason: `${fallback.reason} (until ${new Date(fallback.until).toISOString().slice(0, 16).replace("T", " ")} UTC).` };
	return { path: "bulk", reason: "Segment statuses go by Outreach's bulk API, grouped by field and value; attributes go by PATCH." };
}
