import { env, SELF } from "cloudflare:test";
import { expect, vi } from "vitest";
import { maxInAnyWindow as maxTimesInWindow } from "../../scripts/bench/stats";
import { noteIngest, noteMapping } from "./audit";
import { adminJson } from "./control";

/**
 * Helpers for data-plane tests: post AEP bodies to the ingest endpoint, wait for the queue to settle, and
 * read what the local Outreach ended up holding.
 */

export type IngestAnswer = { accepted: number; skipped: number; rejected: { index: number; error: string }[] };
export type Counts = { received: number; rejected: number; skipped: number; pending: number; delivered: number; failed: number; superseded: number; held: number };
export type Activity = {
	totals: Counts;
	segments: ({ segmentId: string; mappingId: number } & Counts)[];
	hours: ({ hour: string } & Counts)[];
	budget: { limit: number; windowSeconds: number; usedInWindow: number; pausedUntil: string | null; oldestPendingAt: string | null };
	backlog: { pending: number; callsPerHour: number; etaAt: string | null };
	delivery: { path: "patch" | "bulk"; reason: string };
	recentErrors: { message: string }[];
};
export type FailureView = { id: string; prospectId: number; fields: string[]; reason: string; status: string; firstFailedAt: string; attempts: number };

/** POSTs a body to /ingest/:id with the destination's ingest token. */
export function ingest(destinationId: string, token: string, body: string | unknown, contentType = "application/json"): Promise<Response> {
	return SELF.fetch(`http://localhost/ingest/${destinationId}`, {
		method: "POST",
		headers: { Authorization: `Bearer ${token}`, "Content-Type": contentType },
		body: typeof body === "string" ? body : JSON.stringify(body),
	});
}

/** The profiles a body carries (one object, an array, or NDJSON), for the write audit. */
function profilesOf(body: string | unknown): unknown[] {
	if (typeof body !== "string") return Array.isArray(body) ? body : [body];
	try {
		const parsed: unknown = JSON.parse(body);
		return Array.isArray(parsed) ? parsed : [parsed];
	} catch {
		return body.split(/\r?\n/).flatMap((line) => {
			try {
				return line.trim() ? [JSON.parse(line) as unknown] : [];
			} catch {
				return [];
			}
		});
	}
}

/** `ingest(...)` expecting 202, answering its summary; what it sent is recorded for the write audit. */
export async function ingestOk(destinationId: string, token: string, body: string | unknown, contentType?: string): Promise<IngestAnswer> {
	noteIngest(destinationId, profilesOf(body), Date.now());
	const res = await ingest(destinationId, token, body, contentType);
	const text = await res.text();
	expect(res.status, `ingest answered ${res.status}: ${text}`).toBe(202);
	return JSON.parse(text) as IngestAnswer;
}

export async function putMapping(destinationId: string, mapping: unknown) {
	const answer = await adminJson(`/api/destinations/${destinationId}/mapping`, { method: "PUT", json: mapping });
	noteMapping(destinationId, mapping as Parameters<typeof noteMapping>[1]);
	return answer;
}

export function activity(destinationId: string): Promise<Activity> {
	return adminJson<Activity>(`/api/destinations/${destinationId}/activity`);
}

export async function failures(destinationId: string): Promise<FailureView[]> {
	return (await adminJson<{ failures: FailureView[] }>(`/api/destinations/${destinationId}/failures`)).failures;
}

/** received = rejected + skipped + pending + delivered + failed + superseded. */
export function expectCountsAddUp(c: Counts): void {
	expect(c.received, JSON.stringify(c)).toBe(c.rejected + c.skipped + c.pending + c.delivered + c.failed + c.superseded);
}

/** Waits until nothing is pending for the destination (the queue, the budget and retries have all settled). */
export async function settled(destinationId: string, timeout = 60_000): Promise<Activity> {
	let last: Activity | undefined;
	await vi.waitUntil(
		async () => {
			last = await activity(destinationId);
			return last.totals.pending === 0 && last.totals.received > 0;
		},
		{ timeout, interval: 250 },
	);
	return last!;
}

/** The prospect's attributes at the local Outreach (bypassing auth and limits). */
export async function prospectAttributes(id: number): Promise<Record<string, unknown>> {
	const res = await fetch(`${env.OUTREACH_API_BASE}/__fake/prospects/${id}`);
	expect(res.status, `prospect ${id} answered ${res.status}`).toBe(200);
	return ((await res.json()) as { data: { attributes: Record<string, unknown> } }).data.attributes;
}

export type FakeRequest = { at: number; userId: number | null; method: string; path: string; status: number; resetAt?: number };

export async function outreachRequests(): Promise<FakeRequest[]> {
	const res = await fetch(`${env.OUTREACH_API_BASE}/__fake/requests`);
	return ((await res.json()) as { requests: FakeRequest[] }).requests;
}

/** The most requests that counted against the limit in any interval of `windowMs`, however aligned. */
export function maxInAnyWindow(requests: FakeRequest[], windowMs: number): number {
	const counted = requests.filter((r) => r.status !== 429 && r.userId !== null && r.status !== 401).map((r) => r.at);
	return maxTimesInWindow(counted, windowMs);
}
