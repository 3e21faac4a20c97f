import type { Load } from "./profiles.ts";
import { budgetUtilization, maxInAnyWindow, percentile, round } from "./stats.ts";
import { pool, type FakeRequest, type OutreachControl } from "./http.ts";

/** One run's numbers, as the design's "Benchmark output" names them (plus a few that explain them). */
export type RunReport = {
	profiles: number;
	distinctProspects: number;
	/** PATCH requests Outreach received (429s included). */
	patchCalls: number;
	status429: number;
	budgetUtilization: number;
	/** From the first ingest until the last update reached its final state. */
	backlogSeconds: number;
	/** From the last ingest answer until the last update reached its final state. */
	drainSeconds: number;
	ingestP50Ms: number;
	ingestP99Ms: number;
	/** Ingest requests that took longer than AEP's 2-second deadline. */
	ingestOver2s: number;
	e2eP50Ms: number;
	e2eP99Ms: number;
	lost: number;
	failed: number;
	/** The most calls Outreach counted in any interval of one window's length (must stay ≤ the limit). */
	maxCallsInAnyWindow: number;
	doCallsPerPatch: number | null;
	queueMessagesPerProfile: number | null;
	kvReadsPerProfile: number | null;
};

/** What a run observed, before it is turned into a report. */
export type Observed = {
	load: Load;
	limit: number;
	windowSeconds: number;
	/** The Outreach user whose calls are this run's (a warm-up may have used another). */
	userId: number;
	/** Per ingest request: when it was sent and when it was answered (epoch ms), and the profile indexes it carried. */
	requests: { sentAt: number; answeredAt: number; indexes: number[] }[];
	/** When the last update reached its final state (epoch ms). */
	settledAt: number;
	outreach: OutreachControl;
	/** Prospects listed as failed (they do not count as lost). */
	failedProspects: Set<number>;
	work: { doCallsPerPatch: number; queueMessagesPerProfile: number; kvReadsPerProfile: number } | null;
};

const PATCH_PATH = /^\/api\/v2\/prospects\/(\d+)$/;

/** Each prospect's state at the local Outreach compared with the expected one: the prospects that differ. */
export async function differing(load: Load, outreach: OutreachControl): Promise<number[]> {
	const wrong: number[] = [];
	await pool([...load.expected], 16, async ([id, expected]) => {
		const actual = await outreach.prospect(id);
		if (Object.entries(expected).some(([field, value]) => actual[field] !== value)) wrong.push(id);
	});
	return wrong.sort((a, b) => a - b);
}

export async function report(o: Observed): Promise<RunReport & { wrongProspects: number[] }> {
	const firstSent = Math.min(...o.requests.map((r) => r.sentAt));
	const lastAnswered = Math.max(...o.requests.map((r) => r.answeredAt));
	// Everything since the run's reset: the connect flow's users/me counts against the limit too.
	const log: FakeRequest[] = (await o.outreach.requests()).filter((r) => r.userId === o.userId || r.userId === null);
	const charged = log.filter((r) => r.path.startsWith("/api/v2/") && r.userId !== null && r.status !== 429);
	const patches = log.filter((r) => r.method === "PATCH" && PATCH_PATH.test(r.path));
	const counted = patches.filter((r) => r.status !== 429);
	// The moment each prospect reached its final state: Outreach's last successful PATCH of it.
	const finalAt = new Map<number, number>();
	for (const r of patches) {
		if (r.status < 200 || r.status >= 300) continue;
		const id = Number(PATCH_PATH.exec(r.path)![1]);
		finalAt.set(id, Math.max(finalAt.get(id) ?? 0, r.at));
	}
	// …measured from when the profiles that decide it (the latest-qualified ones) had been sent.
	const sentAt = new Map<number, number>();
	for (const r of o.requests) for (const i of r.indexes) sentAt.set(i, r.sentAt);
	const e2e: number[] = [];
	for (const [id, indexes] of o.load.decisive) {
		const done = finalAt.get(id);
		if (done === undefined) continue;
		e2e.push(Math.max(0, done - Math.max(...indexes.map((i) => sentAt.get(i)!))));
	}
	const wrong = await differing(o.load, o.outreach);
	const backlogSeconds = (o.settledAt - firstSent) / 1000;
	const latencies = o.requests.map((r) => r.answeredAt - r.sentAt);
	return {
		profiles: o.load.profiles.length,
		distinctProspects: o.load.expected.size,
		patchCalls: patches.length,
		status429: (await o.outreach.stats()).status429,
		budgetUtilization: budgetUtilization(counted.length, o.limit, o.windowSeconds, backlogSeconds),
		backlogSeconds: round(backlogSeconds),
		drainSeconds: round(Math.max(0, o.settledAt - lastAnswered) / 1000),
		ingestP50Ms: round(percentile(latencies, 50)),
		ingestP99Ms: round(percentile(latencies, 99)),
		ingestOver2s: latencies.filter((l) => l > 2000).length,
		e2eP50Ms: round(percentile(e2e, 50), 0),
		e2eP99Ms: round(percentile(e2e, 99), 0),
		lost: wrong.filter((id) => !o.failedProspects.has(id)).length,
		failed: o.failedProspects.size,
		maxCallsInAnyWindow: maxInAnyWindow(charged.map((r) => r.at), o.windowSeconds * 1000),
		doCallsPerPatch: o.work?.doCallsPerPatch ?? null,
		queueMessagesPerProfile: o.work?.queueMessagesPerProfile ?? null,
		kvReadsPerProfile: o.work?.kvReadsPerProfile ?? null,
		wrongProspects: wrong,
	};
}
