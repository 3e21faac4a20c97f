import type { Load, Profile } from "./profiles.ts";
import { BENCH_MAPPING } from "./profiles.ts";
import { report, type RunReport } from "./report.ts";
import { signInAtOutreach, sleep, type OutreachControl } from "./http.ts";
import { REP, type RunOptions } from "./ours.ts";

/**
 * The baseline: the same load through the strategy the open-source Outreach connectors use — no budget of
 * their own and no coalescing: one PATCH per profile, in arrival order, `concurrency` at a time; on a 429
 * every worker sleeps until the reset Outreach names (Retry-After / X-RateLimit-Reset), then retries.
 *
 * To compare like with like, the profiles arrive at the same moments (offsets from the first request) as
 * AEP's requests reached our Worker, and a request counts as answered when the peer has written its profiles
 * (such connectors answer after writing): that is its "ingest" latency.
 */

const JSON_API = "application/vnd.api+json";
const SCOPES = "prospects.read prospects.write users.read";
const MAX_TRANSIENT_RETRIES = 10;

/** A simple mapper, as a peer connector has: the primary Oid → prospect, each membership → customN, the first name. */
export function peerMap(profile: Profile): { prospectId: number; attributes: Record<string, string> } {
	const identities = profile.identityMap[BENCH_MAPPING.identityNamespace] ?? [];
	const identity = identities.find((i) => i.primary) ?? identities[0];
	const attributes: Record<string, string> = { firstName: profile.person.name.firstName };
	for (const [segmentId, m] of Object.entries(profile.segmentMembership.ups)) {
		const mapped = BENCH_MAPPING.segments.find((s) => s.segmentId === segmentId);
		if (mapped) attributes[`custom${mapped.mappingId}`] = m.status;
	}
	return { prospectId: Number(identity?.id), attributes };
}

/** An access token for the peer, by the same sign-in a person does, then the code exchange. */
async function peerToken(outreachUrl: string): Promise<string> {
	const redirectUri = "http://127.0.0.1/peer-connector/callback";
	const authorize = new URL(`${outreachUrl}/oauth/authorize`);
	for (const [k, v] of Object.entries({ client_id: "local-client", redirect_uri: redirectUri, response_type: "code", scope: SCOPES, state: "peer" }))
		authorize.searchParams.set(k, v);
	const code = (await signInAtOutreach(authorize.href, REP.email, REP.password)).searchParams.get("code") ?? "";
	const res = await fetch(`${outreachUrl}/oauth/token`, {
		method: "POST",
		body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: "local-client", client_secret: "local-secret" }),
	});
	const body = (await res.json()) as { access_token?: string };
	if (!body.access_token) throw new Error(`the peer's code exchange answered ${res.status}: ${JSON.stringify(body)}`);
	return body.access_token;
}

/** When a 429 says the budget comes back: the later of Retry-After (seconds) and X-RateLimit-Reset (epoch seconds). */
function resetOf(res: Response, now: number): number {
	const retryAfter = Number(res.headers.get("Retry-After"));
	const reset = Number(res.headers.get("X-RateLimit-Reset"));
	return Math.max(Number.isFinite(retryAfter) ? now + retryAfter * 1000 : 0, Number.isFinite(reset) ? reset * 1000 : 0, now + 1000);
}

export async function runBaseline(
	outreachUrl: string,
	outreach: OutreachControl,
	load: Load,
	bodies: number[][],
	schedule: number[],
	opts: RunOptions,
): Promise<RunReport & { wrongProspects: number[] }> {
	const { log } = opts;
	await outreach.reset({ rateLimit: { limit: opts.limit, windowSeconds: opts.windowSeconds } });
	const token = await peerToken(outreachUrl);

	const queue: { request: number; index: number }[] = [];
	const left = bodies.map((b) => b.length);
	const requests = bodies.map((indexes) => ({ sentAt: 0, answeredAt: 0, indexes }));
	const failed = new Set<number>();
	let arrived = 0;
	let done = 0;
	let pausedUntil = 0;
	let lastAnswer = 0;

	const t0 = Date.now();
	const arrivals = bodies.map(
		(indexes, r) =>
			new Promise<void>((resolve) =>
				setTimeout(() => {
					requests[r]!.sentAt = Date.now();
					for (const index of indexes) queue.push({ request: r, index });
					arrived++;
					resolve();
				}, Math.max(0, schedule[r] ?? 0)),
			),
	);

	async function patch(index: number): Promise<void> {
		const { prospectId, attributes } = peerMap(load.profiles[index]!);
		const body = JSON.stringify({ data: { type: "prospect", id: prospectId, attributes } });
		for (let transient = 0; ; ) {
			// Every worker honours the pause the last 429 set.
			while (Date.now() < pausedUntil) await sleep(pausedUntil - Date.now());
			const res = await fetch(`${outreachUrl}/api/v2/prospects/${prospectId}`, {
				method: "PATCH",
				headers: { Authorization: `Bearer ${token}`, "Content-Type": JSON_API, Accept: JSON_API },
				body,
			}).catch(() => null);
			await res?.arrayBuffer();
			lastAnswer = Date.now();
			if (res && res.status >= 200 && res.status < 300) return;
			if (res?.status === 429) {
				pausedUntil = Math.max(pausedUntil, resetOf(res, Date.now()));
				continue;
			}
			if ((!res || res.status >= 500) && ++transient <= MAX_TRANSIENT_RETRIES) {
				await sleep(1000);
				continue;
			}
			failed.add(prospectId);
			return;
		}
	}

	let lastLine = Date.now();
	const worker = async () => {
		for (;;) {
			const next = queue.shift();
			if (!next) {
				if (arrived === bodies.length) return;
				await sleep(5); // the next request has not arrived yet
				continue;
			}
			await patch(next.index);
			done++;
			if (--left[next.request]! === 0) requests[next.request]!.answeredAt = Date.now();
			if (Date.now() - lastLine >= 3000) {
				lastLine = Date.now();
				const paused = pausedUntil > Date.now() ? `  sleeping until the reset (${Math.ceil((pausedUntil - Date.now()) / 1000)} s)` : "";
				log(`peer  t=${String(Math.round((Date.now() - t0) / 1000)).padStart(4)}s  written=${done}/${load.profiles.length}${paused}`);
			}
		}
	};
	log(`baseline: the same ${load.profiles.length} profiles, one PATCH each, ${opts.concurrency} at a time, sleeping until the reset on a 429`);
	const workers = Array.from({ length: opts.concurrency }, worker);
	await Promise.all(arrivals);
	await Promise.all(workers);
	log(`peer  t=${String(Math.round((Date.now() - t0) / 1000)).padStart(4)}s  written=${done}/${load.profiles.length}  done`);

	return report({
		load,
		limit: opts.limit,
		windowSeconds: opts.windowSeconds,
		userId: REP.id,
		requests,
		settledAt: lastAnswer,
		outreach,
		failedProspects: failed,
		work: null,
	});
}
