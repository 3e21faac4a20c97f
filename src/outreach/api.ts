import { z } from "zod";

/**
 * Outreach's REST API (JSON:API): the envelope, the rate-limit headers, and the calls this product makes.
 * Every request and error body of Outreach's API goes through here.
 */

export const JSON_API = "application/vnd.api+json";
/** The default request timeout (OUTREACH_TIMEOUT_SECONDS sets the one delivery uses). */
const TIMEOUT_MS = 15_000;

export const OutreachErrorItem = z.looseObject({
	id: z.string().optional(),
	title: z.string().optional(),
	detail: z.string().optional(),
	details: z.string().optional(),
	source: z.looseObject({ pointer: z.string().optional() }).optional(),
});
export type OutreachErrorItem = z.infer<typeof OutreachErrorItem>;
const ErrorEnvelope = z.looseObject({ errors: z.array(OutreachErrorItem) });

/** What Outreach said about the budget: remaining calls and when the window resets (epoch ms). */
export type RateInfo = { limit?: number; remaining?: number; resetAt?: number };

export type OutreachResponse = {
	/** HTTP status, or 0 when the request never got an answer (network error, timeout). */
	status: number;
	errors: OutreachErrorItem[];
	rate: RateInfo;
	/** Parsed JSON body on success. */
	data?: unknown;
	/** Why there was no answer (status 0). */
	networkError?: string;
	/** When a `Retry-After` header said to come back (epoch ms), e.g. during scheduled maintenance. */
	retryAfter?: number;
};

/** Reads a reset time given as epoch seconds, epoch milliseconds or ISO-8601; returns epoch ms. */
export function parseTime(value: string | null | undefined, now = Date.now()): number | undefined {
	if (!value) return undefined;
	const v = value.trim();
	if (/^\d+(\.\d+)?$/.test(v)) {
		const n = Number(v);
		if (n > 1e12) return n; // epoch ms
		if (n > 1e9) return n * 1000; // epoch s
		return now + n * 1000; // a delta in seconds (Retry-After style)
	}
	const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`);
	return Number.isNaN(t) ? undefined : t;
}

const TRY_AGAIN = /try again at ([0-9T:.\-+ Z]+?)\.?(?:\s|$)/i;

/** Parses X-RateLimit-* / Retry-After headers and the "try again at …" text of a 429, defensively. */
export function parseRateInfo(headers: Headers, errors: OutreachErrorItem[] = [], now = Date.now()): RateInfo {
	const num = (name: string) => {
		const raw = headers.get(name);
		const n = raw === null ? NaN : Number(raw);
		return Number.isFinite(n) ? n : undefined;
	};
	const rate: RateInfo = { limit: num("X-RateLimit-Limit"), remaining: num("X-RateLimit-Remaining") };
	let resetAt = parseTime(headers.get("X-RateLimit-Reset"), now);
	const retryAfter = parseTime(headers.get("Retry-After"), now);
	if (retryAfter !== undefined) resetAt = Math.max(resetAt ?? 0, retryAfter);
	for (const e of errors) {
		const m = TRY_AGAIN.exec(e.detail ?? e.details ?? "");
		const t = m ? parseTime(m[1], now) : undefined;
		if (t !== undefined) resetAt = Math.max(resetAt ?? 0, t);
	}
	if (resetAt !== undefined) rate.resetAt = resetAt;
	return rate;
}

/** One call to Outreach's API; never throws (a network failure is status 0). */
export async function outreachRequest(
	base: string,
	accessToken: string,
	method: "GET" | "PATCH" | "POST",
	path: string,
	body?: unknown,
	timeoutMs = TIMEOUT_MS,
): Promise<OutreachResponse> {
	let res: Response;
	try {
		res = await fetch(`${base}/api/v2${path}`, {
			method,
			headers: { Authorization: `Bearer ${accessToken}`, Accept: JSON_API, ...(body === undefined ? {} : { "Content-Type": JSON_API }) },
			body: body === undefined ? undefined : JSON.stringify(body),
			signal: AbortSignal.timeout(Math.max(1, timeoutMs)),
		});
	} catch (err) {
		return { status: 0, errors: [], rate: {}, networkError: err instanceof Error ? err.name : "fetch failed" };
	}
	const text = await res.text().catch(() => "");
	let json: unknown;
	try {
		json = text ? JSON.parse(text) : undefined;
	} catch {
		json = undefined;
	}
	const envelope = ErrorEnvelope.safeParse(json);
	const errors = res.ok || !envelope.success ? [] : envelope.data.errors;
	const retryAfter = parseTime(res.headers.get("Retry-After"));
	return {
		status: res.status,
		errors,
		rate: parseRateInfo(res.headers, errors),
		data: res.ok ? json : undefined,
		...(retryAfter === undefined ? {} : { retryAfter }),
	};
}

/** The JSON:API body of a prospect PATCH. */
export function prospectPatchBody(prospectId: number, attributes: Record<string, unknown>) {
	return { data: { type: "prospect", id: prospectId, attributes } };
}

/** One prospect PATCH, aborted after `timeoutMs` (so it never outlives its grant's lease). */
export function patchProspect(base: string, accessToken: string, prospectId: number, attributes: Record<string, unknown>, timeoutMs = TIMEOUT_MS) {
	return outreachRequest(base, accessToken, "PATCH", `/prospects/${prospectId}`, prospectPatchBody(prospectId, attributes), timeoutMs);
}

const Me = z.object({
	data: z.object({ id: z.coerce.number().int(), attributes: z.looseObject({ email: z.string() }) }),
});

/** The signed-in user behind an access token (needs `users.read`). */
export async function getMe(base: string, accessToken: string): Promise<{ id: number; email: string } | OutreachResponse> {
	const res = await outreachRequest(base, accessToken, "GET", "/users/me");
	const me = Me.safeParse(res.data);
	return me.success ? { id: me.data.data.id, email: me.data.data.attributes.email } : res;
}

/** A short human sentence for an Outreach error answer. */
export function describeOutreachError(res: OutreachResponse): string {
	if (res.status === 0) return `Outreach did not answer (${res.networkError ?? "network error"})`;
	const first = res.errors[0];
	const text = first ? [first.title, first.detail ?? first.details].filter(Boolean).join(": ") : "";
	return `Outreach answered ${res.status}${text ? ` — ${text}` : ""}`;
}
