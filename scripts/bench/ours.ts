import { BENCH_MAPPING, type Load } from "./profiles.ts";
import { report, type RunReport } from "./report.ts";
import { adminClient, pool, signInAtOutreach, sleep, type Admin, type OutreachControl } from "./http.ts";
import { round } from "./stats.ts";

/**
 * Our run: a destination created through the admin API, connected to the local Outreach by the OAuth flow
 * over HTTP, the load posted to /ingest as AEP would (up to 10 profiles per request, several at once), and
 * then the queue drained by the Worker within the budget.
 */

export type RunOptions = { limit: number; windowSeconds: number; concurrency: number; perRequest: number; log: (line: string) => void };

type Totals = { received: number; rejected: number; skipped: number; pending: number; delivered: number; failed: number; superseded: number };
type Activity = { totals: Totals; budget: { usedInWindow: number; pausedUntil: string | null } };
type Metrics = { gateCalls: number; ledgerCalls: number; queueMessagesSent: number; kvReads: number; patchCalls: number; profilesReceived: number };

/** The seeded Outreach user the benchmark connects as (the baseline signs in as the same user). */
export const REP = { id: 1, email: "rep@example.com", password: "outreach" };
/** Another Outreach user, with a budget of its own, for the warm-up. */
const WARMUP_USER = { id: 2, email: "warmup@example.com", password: "warm-up" };
/** The warm-up writes these prospects, above the load's (the local Outreach seeds 1–10000). */
const WARMUP_PROSPECTS = { first: 9901, count: 100 };

type Created = { id: string; ingestToken: string };

async function connectedDestination(admin: Admin, name: string, user: { email: string; password: string }): Promise<Created> {
	const created = await admin<Created>("POST", "/api/destinations", { name, description: "npm run bench" }, 201);
	const { authorizeUrl } = await admin<{ authorizeUrl: string }>("POST", `/api/destinations/${created.id}/connect`);
	const callback = await signInAtOutreach(authorizeUrl, user.email, user.password);
	const res = await fetch(callback, { headers: { Accept: "application/json" }, redirect: "manual" });
	const body = (await res.json()) as { connected?: boolean };
	if (res.status !== 200 || !body.connected) throw new Error(`the OAuth callback answered ${res.status}: ${JSON.stringify(body)}`);
	await admin("PUT", `/api/destinations/${created.id}/mapping`, BENCH_MAPPING);
	return created;
}

async function waitUntilSettled(admin: Admin, destinationId: string, received: number, deadline: number, onPoll?: (a: Activity) => void): Promise<number> {
	for (;;) {
		const a = await admin<Activity>("GET", `/api/destinations/${destinationId}/activity`);
		const now = Date.now();
		onPoll?.(a);
		if (a.totals.pending === 0 && a.totals.received >= received) return now;
		if (now > deadline) throw new Error(`destination ${destinationId} did not drain in time: ${JSON.stringify(a.totals)}`);
		await sleep(250);
	}
}

/** Splits the load into AEP-sized requests, in order. */
export function requestsOf(load: Load, perRequest: number): number[][] {
	const out: number[][] = [];
	for (let i = 0; i < load.profiles.length; i += perRequest)
		out.push(Array.from({ length: Math.min(perRequest, load.profiles.length - i) }, (_, k) => i + k));
	return out;
}

/**
 * Warms the freshly started Worker up — its first requests and first consumer batches compile their code
 * paths — so the measured run sees a warm Worker, as AEP's traffic does. It runs 100 profiles through ingest,
 * the queue, a gate, Outreach and the ledger as another Outreach user (its own budget and gate) on prospects
 * outside the load, then deletes that destination. Nothing of it is measured.
 */
async function warmUp(admin: Admin, workerUrl: string, load: Load, perRequest: number, log: RunOptions["log"]): Promise<void> {
	if (load.expected.has(WARMUP_PROSPECTS.first)) return log("warm-up skipped: the load uses the warm-up's prospects");
	const spare = await connectedDestination(admin, "Benchmark warm-up", WARMUP_USER);
	const profiles = load.profiles.slice(0, WARMUP_PROSPECTS.count).map((p, i) => ({
		...p,
		identityMap: { Oid: [{ id: String(WARMUP_PROSPECTS.first + i) }] },
	}));
	for (let i = 0; i < profiles.length; i += perRequest) {
		const body = JSON.stringify(profiles.slice(i, i + perRequest));
		const res = await fetch(`${workerUrl}/ingest/${spare.id}`, { method: "POST", headers: { Authorization: `Bearer ${spare.ingestToken}` }, body });
		await res.arrayBuffer();
	}
	await waitUntilSettled(admin, spare.id, profiles.length, Date.now() + 60_000);
	await admin("DELETE", `/api/destinations/${spare.id}`, undefined, 204);
}

export async function runOurs(
	stack: { workerUrl: string; adminToken: string },
	outreach: OutreachControl,
	load: Load,
	opts: RunOptions,
): Promise<RunReport & { wrongProspects: number[]; schedule: number[] }> {
	const { log } = opts;
	const admin = adminClient(stack.workerUrl, stack.adminToken);
	// Fresh usage and the compressed window, before connecting (the connect flow's users/me counts too).
	await outreach.reset({ rateLimit: { limit: opts.limit, windowSeconds: opts.windowSeconds }, users: [REP, WARMUP_USER] });
	await warmUp(admin, stack.workerUrl, load, opts.perRequest, log);
	const destination = await connectedDestination(admin, "Benchmark", REP);
	log(`destination ${destination.id} connected to the local Outreach as ${REP.email}; mapping saved`);
	const before = await admin<Metrics>("GET", "/api/metrics");

	const bodies = requestsOf(load, opts.perRequest);
	const requests: { sentAt: number; answeredAt: number; indexes: number[] }[] = [];
	let accepted = 0;
	log(`ours: posting ${load.profiles.length} profiles in ${bodies.length} requests, ${opts.concurrency} at a time`);
	await pool(bodies, opts.concurrency, async (indexes, n) => {
		const body = JSON.stringify(indexes.map((i) => load.profiles[i]));
		const sentAt = Date.now();
		const res = await fetch(`${stack.workerUrl}/ingest/${destination.id}`, {
			method: "POST",
			headers: { Authorization: `Bearer ${destination.ingestToken}`, "Content-Type": "application/json" },
			body,
		});
		const text = await res.text();
		const answeredAt = Date.now();
		if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${text.slice(0, 300)}`);
		const answer = JSON.parse(text) as { accepted: number; rejected: unknown[] };
		if (answer.accepted !== indexes.length) throw new Error(`ingest accepted ${answer.accepted} of ${indexes.length}: ${text.slice(0, 300)}`);
		accepted += answer.accepted;
		requests[n] = { sentAt, answeredAt, indexes };
	});
	const firstSent = Math.min(...requests.map((r) => r.sentAt));
	log(`ours: ${accepted} accepted in ${round((Date.now() - firstSent) / 1000)} s; draining`);

	// Wait until every update is delivered, failed or superseded; a progress line every few seconds.
	const deadline = Date.now() + Math.max(120_000, ((4 * load.profiles.length) / opts.limit) * opts.windowSeconds * 1000);
	let lastLine = 0;
	const settledAt = await waitUntilSettled(admin, destination.id, accepted, deadline, (a) => {
		const now = Date.now();
		const t = a.totals;
		if (now - lastLine < 3000 && t.pending !== 0) return;
		lastLine = now;
		log(
			`ours  t=${String(round((now - firstSent) / 1000, 0)).padStart(4)}s  pending=${t.pending} delivered=${t.delivered} superseded=${t.superseded} failed=${t.failed}  budget used=${a.budget.usedInWindow}/${opts.limit}`,
		);
	});

	const after = await admin<Metrics>("GET", "/api/metrics");
	const d = (k: keyof Metrics) => after[k] - before[k];
	const failures = await admin<{ failures: { prospectId: number }[] }>("GET", `/api/destinations/${destination.id}/failures`);
	const result = await report({
		load,
		limit: opts.limit,
		windowSeconds: opts.windowSeconds,
		userId: REP.id,
		requests,
		settledAt,
		outreach,
		failedProspects: new Set(failures.failures.map((f) => f.prospectId)),
		work: {
			// Durable Object calls (gate + ledger) per PATCH Outreach received.
			doCallsPerPatch: round((d("gateCalls") + d("ledgerCalls")) / Math.max(1, d("patchCalls")), 2),
			// Queue messages written (ingest, deferrals, retries) per profile received.
			queueMessagesPerProfile: round(d("queueMessagesSent") / load.profiles.length, 2),
			// KV reads that missed the isolate's 5-second cache, per profile received.
			kvReadsPerProfile: round(d("kvReads") / load.profiles.length, 3),
		},
	});
	return { ...result, schedule: requests.map((r) => r.sentAt - firstSent) };
}
