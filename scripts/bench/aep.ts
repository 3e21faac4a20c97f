/**
 * What AEP sends and how it sends it, for the benchmark: its profiles (the raw XDM profile of the HTTP API
 * destination), a destination's mapping read the way the design reads it (the peers map profiles with it and
 * the audit derives each field's versions from it), and AEP's sender — at most 10 profiles a request, a few
 * requests at a time, on a schedule, retrying a failed request twice (15 s and 30 s later, on the compressed
 * clock) before dropping it.
 */
import { rankOfAttribute, rankOfSegment, type Version } from "./audit.ts";
import { sleep } from "./http.ts";

export type SegmentStatus = "realized" | "existing" | "exited";

export type AepProfile = {
	person?: { name?: { firstName?: string; lastName?: string } };
	segmentMembership: { ups: Record<string, { status: SegmentStatus; lastQualificationTime: string }> };
	identityMap: Record<string, { id: string; primary?: boolean }[]>;
};

/** The destination's mapping, as `PUT /api/destinations/:id/mapping` takes it. */
export type BenchMapping = {
	identityNamespace: string;
	attributes: { source: string; target: string }[];
	segments: { segmentId: string; mappingId: number; name?: string }[];
};

/** One field a profile sets, with what ranks it (the segment's qualification time; attributes have none). */
export type MappedField = { field: string; value: unknown; kind: "segment" | "attribute"; qualifiedAt?: number };

/** The prospect a profile is for (its primary identity in the mapping's namespace) and the fields it sets. */
export function fieldsOf(profile: AepProfile, mapping: BenchMapping): { prospectId: number; fields: MappedField[] } {
	const identities = profile.identityMap[mapping.identityNamespace] ?? [];
	const identity = identities.find((i) => i.primary) ?? identities[0];
	const fields: MappedField[] = [];
	for (const a of mapping.attributes) {
		let value: unknown = profile;
		for (const part of a.source.split(".")) value = value && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
		if (value !== undefined && value !== null) fields.push({ field: a.target, value, kind: "attribute" });
	}
	for (const s of mapping.segments) {
		const m = profile.segmentMembership.ups[s.segmentId];
		if (!m) continue;
		const qualifiedAt = Date.parse(m.lastQualificationTime);
		// No statusValues in the benchmark's mappings: the status itself is written ("existing" is never sent).
		fields.push({ field: `custom${s.mappingId}`, value: m.status, kind: "segment", ...(Number.isFinite(qualifiedAt) ? { qualifiedAt } : {}) });
	}
	return { prospectId: Number(identity?.id.trim()), fields };
}

/** One AEP request of the load: the profiles it carries and when (ms after the run's start) AEP sends it. */
export type PlannedRequest = { at: number; profiles: AepProfile[] };

/** A request as it was sent: when it was first sent and finally answered (epoch ms), and how. */
export type SentRequest = {
	index: number;
	sentAt: number;
	answeredAt: number;
	/** The final answer's status (0: no answer); `attempts` counts AEP's retries too. */
	status: number;
	attempts: number;
	/** Profiles the destination accepted (202's `accepted`; the peers accept everything they receive). */
	accepted: number;
	/** Whether AEP gave up on it (its data is dropped). */
	dropped: boolean;
};

/**
 * For each request, the earlier requests it must wait for: the last earlier one carrying each of its prospects.
 * AEP's order of a prospect's versions is then the order of arrival, and never two of them are in flight at once.
 */
export function dependencies(requests: PlannedRequest[], mapping: BenchMapping): number[][] {
	const lastWith = new Map<number, number>();
	return requests.map((r, i) => {
		const deps = new Set<number>();
		for (const p of r.profiles) {
			const id = fieldsOf(p, mapping).prospectId;
			const before = lastWith.get(id);
			if (before !== undefined) deps.add(before);
			lastWith.set(id, i);
		}
		return [...deps];
	});
}

export type Delivery = { status: number; accepted: number };

/** The statuses after which AEP retries a request (reference/aep.md), besides no answer at all. */
const RETRIED = new Set([403, 408, 409, 429, 500, 502, 503, 504]);

/**
 * Sends the load as AEP does: requests in order, `concurrency` at a time, none before its planned moment and
 * none before the requests it depends on were answered; a failed request is retried twice, `retryDelaysMs`
 * later, then dropped. `deliver` answers a request (its status and how many profiles were accepted). Once
 * `stopped()` says so, no further request is sent (a run out of time must not spend minutes more posting):
 * those have no entry in `sent`, so nothing expects their data.
 */
export async function sendLoad(
	requests: PlannedRequest[],
	deps: number[][],
	opts: { concurrency: number; retryDelaysMs: number[]; deliver: (r: PlannedRequest, index: number) => Promise<Delivery>; stopped?: () => boolean },
): Promise<{ startedAt: number; sent: SentRequest[] }> {
	const startedAt = Date.now();
	const answered = requests.map(() => {
		let done!: () => void;
		const promise = new Promise<void>((resolve) => (done = resolve));
		return { promise, done };
	});
	const sent: SentRequest[] = [];
	let next = 0;
	const worker = async () => {
		while (next < requests.length && !opts.stopped?.()) {
			const index = next++;
			const r = requests[index]!;
			const wait = startedAt + r.at - Date.now();
			if (wait > 0) await sleep(wait);
			await Promise.all(deps[index]!.map((d) => answered[d]!.promise));
			// A request already taken when the stop came: left unsent, but answered for those waiting on it.
			if (opts.stopped?.()) {
				answered[index]!.done();
				continue;
			}
			const sentAt = Date.now();
			let attempts = 0;
			let answer: Delivery = { status: 0, accepted: 0 };
			for (;;) {
				attempts++;
				answer = await opts.deliver(r, index).catch(() => ({ status: 0, accepted: 0 }));
				if (answer.status >= 200 && answer.status < 300) break;
				if (answer.status !== 0 && !RETRIED.has(answer.status)) break;
				const delay = opts.retryDelaysMs[attempts - 1];
				if (delay === undefined) break;
				await sleep(delay);
			}
			const ok = answer.status >= 200 && answer.status < 300;
			sent[index] = { index, sentAt, answeredAt: Date.now(), status: answer.status, attempts, accepted: ok ? answer.accepted : 0, dropped: !ok };
			answered[index]!.done();
		}
	};
	await Promise.all(Array.from({ length: Math.min(opts.concurrency, requests.length) }, worker));
	return { startedAt, sent };
}

/**
 * The versions the load sent, as the audit wants them: every mapped field of every profile of every request
 * that was sent, ranked by the ordering contract, arrived when its request was (first) sent.
 */
export function versionsOf(requests: PlannedRequest[], sent: SentRequest[], mapping: BenchMapping): Version[] {
	const out: Version[] = [];
	for (const s of sent) {
		if (!s) continue;
		requests[s.index]!.profiles.forEach((p, position) => {
			const { prospectId, fields } = fieldsOf(p, mapping);
			for (const f of fields) {
				const at = { observedAt: s.sentAt, position, tieBreak: s.index };
				const rank = f.kind === "segment" ? rankOfSegment({ ...at, qualifiedAt: f.qualifiedAt }) : rankOfAttribute(at);
				out.push({ prospectId, field: f.field, value: f.value, rank, arrivedAt: s.sentAt });
			}
		});
	}
	return out;
}
