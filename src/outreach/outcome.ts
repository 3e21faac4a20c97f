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

/** What delivery does with Outreach's answer to a bulk request (a modify, a poll, a page of items, a cancel). */
export type BulkOutcome =
	| { kind: "ok" }
	/** 401: refresh the access token, and ask again later. */
	| { kind: "refresh" }
	/** Too many ids in one request (422 on the ids): halve the group. */
	| { kind: "too_large"; reason: string }
	/** Outreach will not do this in bulk (403, 404, another 422): deliver by PATCH instead. */
	| { kind: "refused"; reason: string }
	/** The bulk API's own daily quota is spent: deliver by PATCH (the hourly budget is not affected). */
	| { kind: "quota"; reason: string; until: number }
	/** The hourly limit (429): pause the budget like any call. */
	| { kind: "rate_limited"; until: number }
	/** 5xx, network, timeout: try again later. */
	| { kind: "transient"; reason: string };

const HOURLY_LIMIT = /permitted rate limit/i;
const TOO_MANY_IDS = /\bids\b|at most/i;

/** The one classification of an answer of Outreach's bulk API. */
export function classifyBulk(res: OutreachResponse, now = Date.now()): BulkOutcome {
	const s = res.status;
	if (s >= 200 && s < 300) return { kind: "ok" };
	const reason = describeOutreachError(res);
	if (s === 401) return { kind: "refresh" };
	if (s === 429) {
		const detail = res.errors.map((e) => `${e.id ?? ""} ${e.detail ?? e.details ?? ""}`).join(" ");
		if (/quota/i.test(detail) && !HOURLY_LIMIT.test(detail)) return { kind: "quota", reason, until: now + 24 * 3600_000 };
		return { kind: "rate_limited", until: res.rate.resetAt ?? now + 60_000 };
	}
	if (s === 422 && res.errors.some((e) => e.source?.pointer === "/data/attributes/ids" || TOO_MANY_IDS.test(e.detail ?? e.details ?? "")))
		return { kind: "too_large", reason };
	if (s === 0 || s === 408 || s >= 500) return { kind: "transient", reason };
	return { kind: "refused", reason };
}
