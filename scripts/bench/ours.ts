/**
 * Our run: a destination created through the admin API, mapped, connected to the local Outreach through the
 * OAuth sign-in, the load posted to `POST /ingest/:id` as AEP posts it, and the drain watched through
 * `GET /api/destinations/:id/activity` until nothing is pending. Figures come from the local Outreach after.
 */
import { sendLoad, type AepProfile, type BenchMapping, type SentRequest } from "./aep.ts";
import type { Observed } from "./figures.ts";
import { adminClient, signInAtOutreach, sleep, writeCounter, type Admin, type OutreachControl } from "./http.ts";
import type { BenchLoad } from "./loads.ts";

/** The seeded Outreach user every strategy signs in as (each against a freshly reset local Outreach). */
export const REP = { id: 1, email: "rep@example.com", password: "outreach" };
/** Another Outreach user, with a budget of its own, for the warm-up. */
const WARMUP_USER = { id: 2, email: "warmup@example.com", password: "warm-up" };
const WARMUP_PROFILES = 100;

type Totals = { received: number; rejected: number; skipped: number; pending: number; delivered: number; failed: number; superseded: number; held?: number };
type Activity = {
	totals: Totals;
	budget?: { usedInWindow?: number; pausedUntil?: string | null };
	backlog?: { pending: number; callsPerHour: number; etaAt: string | null } | null;
	delivery?: { path: string; reason?: string };
};
type Metrics = { gateCalls: number; ledgerCalls: number; queueMessagesSent: number; patchCalls: number };
type Created = { id: string; ingestToken: string };

export type RunContext = {
	workerUrl: string;
	adminToken: string;
	outreach: OutreachControl;
	load: BenchLoad;
	limit: number;
	windowSeconds: number;
	/** AEP's requests in flight at once. */
	concurrency: number;
	/** AEP's two retries of a failed request, on the compressed clock. */
	retryDelaysMs: number[];
	/** What `POST /__fake/reset` gets for the run: the prospects' initial state and the compressed limit. */
	resetBody: Record<string, unknown>;
	/** How long the drain may take before the benchmark stops waiting (ms after the first ingest request). */
	drainBudgetMs: number;
	log: (line: string) => void;
};

/** The product cannot be measured on this scenario (e.g. it has no bulk delivery yet): a clear failure, not a crash. */
export class NotMeasurable extends Error {}

export const secondsSince = (t: number) => String(Math.round((Date.now() - t) / 1000)).padStart(4);

/** The destination, created and mapped through the admin API; with `bulkApi`, switched to bulk delivery first. */
async function createDestination(admin: Admin, name: string, mapping: BenchMapping, bulkApi: boolean): Promise<Created> {
	const created = await admin<Created>("POST", "/api/destinations", { name, description: "npm run bench" }, 201);
	if (bulkApi) {
		const res = await admin<unknown>("PATCH", `/api/destinations/${created.id}`, { bulkApi: true }).catch((err: Error) => {
			throw new NotMeasurable(`the product has no bulk delivery to measure: PATCH /api/destinations/:id {"bulkApi":true} was refused — ${err.message}`);
		});
		if (!res || typeof res !== "object" || (res as { bulkApi?: unknown }).bulkApi !== true)
			throw new NotMeasurable(`the product has no bulk delivery to measure: PATCH {"bulkApi":true} answered ${JSON.stringify(res).slice(0, 300)}`);
	}
	await admin("PUT", `/api/destinations/${created.id}/mapping`, mapping);
	return created;
}

/**
 * Connects the destination as a person would: `POST …/connect`, Outreach's sign-in form, then our callback
 * (asked for JSON). A flow started through the API may need an admin's confirmation before it connects
 * (`confirmation_required` with `pendingOutreachUser`): then `POST …/connection/confirm`. Answers the scopes
 * the product asked for — the local Outreach grants exactly those — so the log can say what its calls may do;
 * which scopes a bulk path needs is the product's business, never the benchmark's.
 */
export async function connect(admin: Admin, destinationId: string, user: { email: string; password: string }): Promise<{ scopes: string[] }> {
	const { authorizeUrl } = await admin<{ authorizeUrl: string }>("POST", `/api/destinations/${destinationId}/connect`);
	const scopes = (new URL(authorizeUrl).searchParams.get("scope") ?? "").split(/\s+/).filter(Boolean);
	const callback = await signInAtOutreach(authorizeUrl, user.email, user.password);
	const res = await fetch(callback, { headers: { Accept: "application/json" }, redirect: "manual" });
	const text = await res.text();
	let body: { connected?: boolean; destination?: { status?: string; pendingOutreachUser?: { email?: string } } } = {};
	try {
		body = JSON.parse(text) as typeof body;
	} catch {
		throw new Error(`the OAuth callback answered ${res.status}, not JSON: ${text.slice(0, 300)}`);
	}
	const ok = res.status >= 200 && res.status < 300;
	if (ok && body.destination?.status === "confirmation_required") {
		const who = body.destination.pendingOutreachUser?.email;
		if (who !== undefined && who.toLowerCase() !== user.email.toLowerCase()) throw new Error(`the connection waits for confirmation of ${who}, not ${user.email}`);
		await admin("POST", `/api/destinations/${destinationId}/connection/confirm`, undefined, "2xx");
	} else if (!ok || !body.connected) throw new Error(`the OAuth callback answered ${res.status}: ${text.slice(0, 300)}`);
	const now = await admin<{ status?: string }>("GET", `/api/destinations/${destinationId}`);
	if (now.status !== "connected") throw new Error(`after the OAuth flow the destination is ${now.status}, not connected`);
	return { scopes };
}

async function activity(admin: Admin, id: string): Promise<Activity> {
	return admin<Activity>("GET", `/api/destinations/${id}/activity`);
}

async function waitUntilSettled(admin: Admin, id: string, received: number, deadline: number): Promise<Activity> {
	for (;;) {
		const a = await activity(admin, id);
		if (a.totals.pending === 0 && a.totals.received >= received) return a;
		if (Date.now() > deadline) throw new Error(`destination ${id} did not drain in time: ${JSON.stringify(a.totals)}`);
		await sleep(250);
	}
}

async function postIngest(workerUrl: string, d: Created, profiles: AepProfile[]): Promise<{ status: number; accepted: number }> {
	const res = await fetch(`${workerUrl}/ingest/${d.id}`, {
		method: "POST",
		headers: { Authorization: `Bearer ${d.ingestToken}`, "Content-Type": "application/json" },
		body: JSON.stringify(profiles),
	});
	const text = await res.text();
	if (res.status !== 202) return { status: res.status, accepted: 0 };
	return { status: res.status, accepted: (JSON.parse(text) as { accepted: number }).accepted };
}

/**
 * Warms the freshly started Worker up — its first requests and consumer batches compile their code paths —
 * so the measured run meets a warm Worker, as AEP's traffic does: 100 profiles of the load, moved to prospects
 * outside it, through ingest, the queue, a gate, Outreach and the ledger as another Outreach user. Then that
 * destination is deleted. Nothing of it is measured (the local Outreach is reset after it).
 */
async function warmUp(ctx: RunContext, admin: Admin): Promise<void> {
	// A loop, not Math.max(...keys): a million prospects are more arguments than a call takes.
	let first = 1;
	for (const id of ctx.load.initial.keys()) first = Math.max(first, id + 1);
	const profiles = ctx.load.requests
		.flatMap((r) => r.profiles)
		.slice(0, WARMUP_PROFILES)
		.map((p, i) => ({ ...p, identityMap: { Oid: [{ id: String(first + i) }] } }));
	await ctx.outreach.reset({
		...ctx.resetBody,
		users: [REP, WARMUP_USER],
		prospects: Array.from({ length: profiles.length }, (_, i) => first + i),
	});
	const spare = await createDestination(admin, "Benchmark warm-up", ctx.load.mapping, false);
	await connect(admin, spare.id, WARMUP_USER);
	for (let i = 0; i < profiles.length; i += 10) await postIngest(ctx.workerUrl, spare, profiles.slice(i, i + 10));
	await waitUntilSettled(admin, spare.id, profiles.length, Date.now() + 120_000);
	await admin("DELETE", `/api/destinations/${spare.id}`, undefined, 204);
}

/** `destinationId` and `sendStartedAt` (the zero of AEP's schedule) are for the ledger probe (./ledger-probe.ts). */
export type OursResult = Observed & { totals: Totals; deliveryPath: string | null; destinationId: string; sendStartedAt: number };

export async function runOurs(ctx: RunContext, opts: { bulkApi: boolean }): Promise<OursResult> {
	const { log, load, outreach } = ctx;
	const admin = adminClient(ctx.workerUrl, ctx.adminToken);
	// First, so that a product without bulk delivery fails before anything is spent.
	const destination = await createDestination(admin, "Benchmark", load.mapping, opts.bulkApi);
	log("ours: warming the Worker up (another Outreach user, other prospects; not measured)");
	await warmUp(ctx, admin);

	await outreach.reset({ ...ctx.resetBody, users: [REP] });
	const { scopes } = await connect(admin, destination.id, REP);
	// The connect flow's calls (users/me) opened a window of Outreach's limit: let it end, so the drain's
	// windows are the drain's alone.
	const usage = (await outreach.stats()).usage.find((u) => u.userId === REP.id);
	if (usage) await sleep(Math.max(0, usage.windowStart + ctx.windowSeconds * 1000 - Date.now() + 50));
	log(`ours: destination ${destination.id} mapped and connected as ${REP.email}${opts.bulkApi ? " (bulkApi on)" : ""}, scopes ${scopes.join(" ")}`);
	if (opts.bulkApi && !["imports.write", "imports.all"].some((s) => scopes.includes(s)))
		log("ours: note — the product asked for no imports scope, so the local Outreach refuses its imports (403); attributes can only go by PATCH");

	const before = await admin<Metrics>("GET", "/api/metrics");
	let accepted = 0;
	let posted = 0;
	let postingDone = false;
	let timedOut = false;
	const sending = sendLoad(load.requests, load.deps, {
		concurrency: ctx.concurrency,
		retryDelaysMs: ctx.retryDelaysMs,
		stopped: () => timedOut,
		deliver: async (r) => {
			const answer = await postIngest(ctx.workerUrl, destination, r.profiles);
			accepted += answer.accepted;
			posted++;
			return answer;
		},
	}).finally(() => (postingDone = true));
	const t0 = Date.now();
	const deadline = t0 + ctx.drainBudgetMs;
	const landed = writeCounter(outreach);
	let last: Activity | undefined;
	let lastLine = 0;
	for (;;) {
		last = await activity(admin, destination.id);
		const t = last.totals;
		const settled = postingDone && t.pending === 0 && t.received >= accepted;
		if (Date.now() - lastLine >= 5000 || settled) {
			lastLine = Date.now();
			const backlog = last.backlog;
			const eta = backlog?.etaAt ? `  eta ${backlog.etaAt.slice(11, 19)} (in ${Math.max(0, Math.round((Date.parse(backlog.etaAt) - Date.now()) / 1000))} s)` : "";
			const held = t.held ? ` (held ${t.held})` : "";
			const window = last.budget?.usedInWindow !== undefined ? `  window ${last.budget.usedInWindow}/${ctx.limit}` : "";
			log(
				`ours            t=${secondsSince(t0)}s  sent ${posted}/${load.requests.length} requests  writes ${await landed()}  ` +
					`pending ${t.pending}${held} delivered ${t.delivered} superseded ${t.superseded} failed ${t.failed}${window}` +
					`${backlog ? `  backlog ${backlog.pending}` : ""}${eta}`,
			);
		}
		if (settled) break;
		if (Date.now() > deadline) {
			timedOut = true;
			log(`ours: still ${t.pending} pending after ${Math.round(ctx.drainBudgetMs / 1000)} s; stopping here and measuring what landed`);
			break;
		}
		await sleep(1000);
	}
	const { sent, startedAt: sendStartedAt } = await sending;
	const unsent = load.requests.length - sent.filter(Boolean).length;
	if (unsent) log(`ours: ${unsent} of AEP's requests were never sent (out of time); their data is not expected`);
	const after = await admin<Metrics>("GET", "/api/metrics");
	const d = (k: keyof Metrics) => (after[k] ?? 0) - (before[k] ?? 0);
	const refused = sent.filter((s: SentRequest) => s.dropped);
	if (refused.length) log(`ours: ${refused.length} ingest requests were dropped by AEP after its retries (last answer ${refused[0]!.status})`);
	// A pending update left by a run that timed out is what AEP's data still waits for: not yet failed.
	return {
		userId: REP.id,
		sent,
		updates: accepted,
		failed: last.totals.failed,
		timedOut,
		ingest: true,
		work: { gateCalls: d("gateCalls"), ledgerCalls: d("ledgerCalls"), queueMessagesSent: d("queueMessagesSent"), patchCalls: d("patchCalls") },
		totals: last.totals,
		deliveryPath: last.delivery?.path ?? null,
		destinationId: destination.id,
		sendStartedAt,
	};
}
