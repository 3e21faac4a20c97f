import { customFieldNumber } from "./attributes";
import { describeOutreachError, type OutreachResponse } from "./api";

/**
 * The one classification of an Outreach API answer to a prospect PATCH: what delivery does next.
 * Every branch is tested in test/outreach/outcome.test.ts.
 */
export type Outcome =
	| { kind: "delivered" }
	/** 401: refresh the access token once through the gate, then retry once. */
	| { kind: "refresh" }
	/** The connection cannot work until someone reconnects (missing scope): hold the updates. */
	| { kind: "connection_lost"; reason: string }
	/** Permanent for this update: list it as failed. */
	| { kind: "failed"; reason: string }
	/** 422 on one field: resend once without it; the field is recorded as failed. */
	| { kind: "field_invalid"; field: string; reason: string }
	/** 429: pause the budget until `until` and defer. */
	| { kind: "rate_limited"; until: number }
	/** 5xx, network, timeout: retry with backoff (not before `retryAt` when Outreach said when). */
	| { kind: "transient"; reason: string; retryAt?: number };

export const BAD_REQUEST_MESSAGE =
	"Bad request reported while pushing events to the destination. Please contact the administrator and try again.";

const ATTRIBUTE_POINTER = /^\/data\/attributes\/([A-Za-z0-9_]+)$/;

/** The reason shown for a field Outreach refused; for `customN` it names the segment's Mapping ID. */
export function fieldFailureReason(field: string, detail: string): string {
	const n = customFieldNumber(field);
	return n === null
		? `Outreach refused the value of '${field}': ${detail}`
		: `${BAD_REQUEST_MESSAGE} ${detail} (Mapping ID ${n})`;
}

export function classify(res: OutreachResponse, now = Date.now()): Outcome {
	const s = res.status;
	if (s >= 200 && s < 300) return { kind: "delivered" };
	const reason = describeOutreachError(res);
	const errorId = res.errors[0]?.id;
	if (s === 401) return { kind: "refresh" };
	if (s === 403 && errorId === "unauthorizedOauthScope")
		return { kind: "connection_lost", reason: `The Outreach connection lacks a scope it needs; reconnect it. (${reason})` };
	if (s === 429) return { kind: "rate_limited", until: res.rate.resetAt ?? now + 60_000 };
	if (s === 422) {
		for (const e of res.errors) {
			const field = ATTRIBUTE_POINTER.exec(e.source?.pointer ?? "")?.[1];
			if (field) return { kind: "field_invalid", field, reason: fieldFailureReason(field, e.detail ?? e.details ?? e.title ?? "invalid value") };
		}
		return { kind: "failed", reason };
	}
	if (s === 0 || s === 408 || s >= 500)
		return res.retryAfter === undefined ? { kind: "transient", reason } : { kind: "transient", reason, retryAt: res.retryAfter };
	return { kind: "failed", reason };
}
