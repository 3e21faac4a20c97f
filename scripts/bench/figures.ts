/**
 * The figures of one strategy's run, as design.md ("Benchmark output") defines them, from ground truth: the
 * local Outreach's final prospect states, its request log (`/__fake/requests`), its write log
 * (`/__fake/writes`) and its stats, plus what AEP saw of its requests and, for ours, the Worker's counters.
 */
import { versionsOf, type SentRequest } from "./aep.ts";
import type { LedgerAtScale } from "./ledger-probe.ts";
import { auditWrites, newestVersions, type StaleWrite, type UnknownWrite } from "./audit.ts";
import { pool, type FakeRequest, type FakeStats, type FakeWrite, type OutreachControl } from "./http.ts";
import { fieldsSet, type BenchLoad } from "./loads.ts";
import { outreachWindows, percentile, round } from "./stats.ts";

/** What the local Outreach holds after a run. */
export type Truth = { writes: FakeWrite[]; requests: FakeRequest[]; stats: FakeStats; finals: Map<number, Record<string, unknown>> };

export async function collectTruth(outreach: OutreachControl, load: BenchLoad): Promise<Truth> {
	const [writes, requests, stats] = await Promise.all([outreach.allWrites(), outreach.requests(), outreach.stats()]);
	const finals = new Map<number, Record<string, unknown>>();
	await pool([...load.initial.keys()], 16, async (id) => {
		finals.set(id, await outreach.prospect(id));
	});
	return { writes, requests, stats, finals };
}

/** What a strategy's run observed besides the local Outreach. */
export type Observed = {
	/** The Outreach user whose calls are the strategy's. */
	userId: number;
	/** AEP's requests, as sent. */
	sent: SentRequest[];
	/** Updates the strategy took on (ours: the profiles its ingest accepted). */
	updates: number;
	/** Updates it reports failed (ours: activity's totals.failed) or dropped / gave up (the peers). */
	failed: number;
	/** Whether it was still working when the benchmark stopped waiting. */
	timedOut: boolean;
	/** Whether AEP's requests were answered by an ingest endpoint whose latency is the strategy's (ours). */
	ingest: boolean;
	/** The Worker's counters over the drain (after − before), ours only. */
	work: { gateCalls: number; ledgerCalls: number; queueMessagesSent: number; patchCalls: number } | null;
};

export type WindowUse = { mean: number | null; min: number | null; windows: number };

export type Figures = {
	profiles: number;
	updates: number;
	distinctProspects: number;
	patchCalls: number;
	bulkCalls: number;
	pollCalls: number;
	status429: number;
	drainSeconds: number;
	drainRatio: number | null;
	windowUse: WindowUse;
	lost: number;
	failed: number;
	staleWrites: number;
	/** Writes of a value no version of that field had by then (also wrong; kept apart from staleWrites). */
	unknownWrites: number;
	ingestP50Ms: number | null;
	ingestP99Ms: number | null;
	ingestOver2s: number | null;
	e2eP50Ms: number | null;
	e2eP99Ms: number | null;
	gateCallsPerPatch: number | null;
	ledgerCallsPerUpdate: number | null;
	queueMessagesPerUpdate: number | null;
	/** With bulk on: bulk requests that named no prospect (`bulk.unfilteredRequests` of the local Outreach's stats). */
	unfilteredRequests?: number;
	/** With bulk on: the segment statuses the load carried (one per profile and segment), and calls of every kind per one. */
	membershipUpdates?: number;
	callsPerMembershipUpdate?: number | null;
	/** With bulk on: bulkUpsert requests and import polls, 429s included (the request log). */
	importCalls?: number;
	/** With bulk on: prospects an import created (`imports.created` of the stats; a destination must create none). */
	createdProspects?: number;
	/** With bulk on: every call to Outreach's API (PATCH, bulk, polls, imports, `users/me`) ÷ distinctProspects. */
	callsPerProspect?: number | null;
	timedOut?: true;
	/** Ours only: the ledger at scale after the drain (./ledger-probe.ts); null when the probe could not run. */
	ledger?: LedgerAtScale | null;
};

/** What explains the figures, for the log (not the JSON): the first stale and unknown writes, the wrong prospects. */
export type Details = { stale: StaleWrite[]; unknown: UnknownWrite[]; wrong: { id: number; field: string; expected: unknown; actual: unknown }[] };

const PATCH = /^\/api\/v2\/prospects\/\d+$/;
const BULK = "/api/v2/batches/actions/prospectsBulkModify";
const POLL = /^\/api\/v2\/(batches\/\d+(\/actions\/cancel)?|batchItems)$/;
const IMPORT = "/api/v2/imports/actions/bulkUpsert";
const IMPORT_POLL = /^\/api\/v2\/imports\/\d+$/;

export function figuresOf(
	load: BenchLoad,
	lowerBound: { drainSeconds: number },
	/** `bulkApi`: the strategy ran with bulk on (ours in the bulk scenarios and `stream --bulk`). */
	cfg: { limit: number; windowSeconds: number; bulkApi: boolean },
	obs: Observed,
	truth: Truth,
): { figures: Figures; details: Details } {
	const sent = obs.sent.filter(Boolean);
	const versions = versionsOf(load.requests, sent, load.mapping);
	const newest = newestVersions(versions);
	const prospects = fieldsSet(load);

	// Only the load's prospects' writes (the warm-up writes others, before the reset anyway).
	const writes = truth.writes.filter((w) => prospects.has(w.prospectId));
	const audit = auditWrites(versions, writes);

	// The final state against the expected one, field by field; a failed update is lost too.
	const wrong: Details["wrong"] = [];
	const lostIds = new Set<number>();
	for (const [id, fields] of prospects) {
		const actual = truth.finals.get(id) ?? {};
		const initial = load.initial.get(id) ?? {};
		for (const field of fields) {
			const expected = newest.get(`${id}\u0000${field}`)?.value ?? initial[field];
			if (JSON.stringify(actual[field] ?? null) !== JSON.stringify(expected ?? null)) {
				wrong.push({ id, field, expected, actual: actual[field] });
				lostIds.add(id);
			}
		}
	}

	const mine = truth.requests.filter((r) => r.userId === obs.userId);
	const drainStart = sent.reduce((min, s) => Math.min(min, s.sentAt), Infinity);
	const drainEnd = writes.length ? writes[writes.length - 1]!.at : drainStart;
	const drainSeconds = Math.max(0, drainEnd - drainStart) / 1000;

	// Outreach's windows over what it counted (authenticated, not 429), those that overlap the drain, the last left out.
	const counted = mine.filter((r) => r.status !== 429 && r.path.startsWith("/api/v2/")).map((r) => r.at);
	const drainWindows = outreachWindows(counted, cfg.windowSeconds * 1000).filter((w) => w.start <= drainEnd && w.end > drainStart);
	const full = drainWindows.slice(0, -1).map((w) => w.calls / cfg.limit);
	const windowUse: WindowUse = {
		mean: full.length ? round(full.reduce((a, b) => a + b, 0) / full.length, 3) : null,
		min: full.length ? round(Math.min(...full), 3) : null,
		windows: drainWindows.length,
	};

	// End to end, per prospect that ended right: from the arrival of the last version its final state depends
	// on to the last write to it.
	const decidedAt = new Map<number, number>();
	for (const v of newest.values()) decidedAt.set(v.prospectId, Math.max(decidedAt.get(v.prospectId) ?? 0, v.arrivedAt));
	const lastWrite = new Map<number, number>();
	for (const w of writes) lastWrite.set(w.prospectId, w.at);
	const e2e: number[] = [];
	for (const [id, at] of lastWrite) if (!lostIds.has(id) && decidedAt.has(id)) e2e.push(Math.max(0, at - decidedAt.get(id)!));

	const latencies = sent.map((s) => s.answeredAt - s.sentAt);
	const updates = obs.updates;
	const per = (n: number, d: number, digits = 3) => (d > 0 ? round(n / d, digits) : null);
	const membershipUpdates = versions.filter((v) => /^custom\d+$/.test(v.field)).length;
	const calls = mine.filter((r) => r.path.startsWith("/api/v2/")).length;
	const figures: Figures = {
		profiles: sent.reduce((n, s) => n + load.requests[s.index]!.profiles.length, 0),
		updates,
		distinctProspects: prospects.size,
		patchCalls: mine.filter((r) => r.method === "PATCH" && PATCH.test(r.path)).length,
		bulkCalls: mine.filter((r) => r.method === "POST" && r.path === BULK).length,
		pollCalls: mine.filter((r) => POLL.test(r.path)).length,
		status429: truth.requests.filter((r) => r.status === 429).length,
		drainSeconds: round(drainSeconds),
		drainRatio: lowerBound.drainSeconds > 0 ? round(drainSeconds / lowerBound.drainSeconds, 3) : null,
		windowUse,
		lost: lostIds.size,
		failed: obs.failed,
		staleWrites: audit.stale.length,
		unknownWrites: audit.unknown.length,
		ingestP50Ms: obs.ingest ? round(percentile(latencies, 50)) : null,
		ingestP99Ms: obs.ingest ? round(percentile(latencies, 99)) : null,
		ingestOver2s: obs.ingest ? latencies.filter((l) => l > 2000).length : null,
		e2eP50Ms: e2e.length ? round(percentile(e2e, 50), 0) : null,
		e2eP99Ms: e2e.length ? round(percentile(e2e, 99), 0) : null,
		gateCallsPerPatch: obs.work ? per(obs.work.gateCalls, obs.work.patchCalls) : null,
		ledgerCallsPerUpdate: obs.work ? per(obs.work.ledgerCalls, updates) : null,
		queueMessagesPerUpdate: obs.work ? per(obs.work.queueMessagesSent, updates) : null,
		...(cfg.bulkApi
			? {
					unfilteredRequests: truth.stats.bulk?.unfilteredRequests ?? 0,
					membershipUpdates,
					callsPerMembershipUpdate: per(calls, membershipUpdates, 4),
					importCalls: mine.filter((r) => (r.method === "POST" && r.path === IMPORT) || (r.method === "GET" && IMPORT_POLL.test(r.path))).length,
					createdProspects: truth.stats.imports?.created ?? 0,
					callsPerProspect: per(calls, prospects.size, 4),
				}
			: {}),
		...(obs.timedOut ? { timedOut: true as const } : {}),
	};
	return { figures, details: { stale: audit.stale, unknown: audit.unknown, wrong } };
}
