/**
 * The two peers, implemented in the benchmark as Node clients of the local Outreach, each with its own OAuth
 * grant (the same sign-in and code exchange a connector does), each run against a freshly reset local
 * Outreach on the same load, received on the same schedule as AEP sends it to ours:
 *
 * - `aepNative` — Adobe's own Outreach destination (the seed): one PATCH per profile as it arrives, no budget
 *   of its own; on a 429 or 5xx it retries twice (15 s and 30 s later, scaled by windowSeconds ÷ 3600 like
 *   the limit), then drops the update.
 * - `isolateLimiter` — a serverless fleet whose every consumer keeps a correct in-process sliding-window
 *   limiter at the full limit: 4 consumers take the profiles in arrival order from one queue, one PATCH per
 *   profile, and retry until it is done (sleeping for Retry-After on a 429). Arrival order wins.
 *
 * Neither is tuned to look better or worse than what it models; their figures are reported as measured.
 */
import { fieldsOf, sendLoad, type AepProfile } from "./aep.ts";
import type { Observed } from "./figures.ts";
import { signInAtOutreach, sleep, writeCounter, type OutreachControl } from "./http.ts";
import type { BenchLoad } from "./loads.ts";
import { REP, secondsSince } from "./ours.ts";

const JSON_API = "application/vnd.api+json";
const SCOPES = "prospects.read prospects.write users.read";

export type PeerContext = {
	outreachUrl: string;
	outreach: OutreachControl;
	load: BenchLoad;
	limit: number;
	windowSeconds: number;
	/** AEP's requests in flight at once (its pace is the same for every strategy). */
	concurrency: number;
	resetBody: Record<string, unknown>;
	drainBudgetMs: number;
	log: (line: string) => void;
};

/** An access token, by the sign-in a person does and the code exchange a connector does. */
async function grant(outreachUrl: string, name: string): Promise<string> {
	const redirectUri = `http://127.0.0.1/${name}/callback`;
	const authorize = new URL(`${outreachUrl}/oauth/authorize`);
	for (const [k, v] of Object.entries({ client_id: "local-client", redirect_uri: redirectUri, response_type: "code", scope: SCOPES, state: name }))
		authorize.searchParams.set(k, v);
	const code = (await signInAtOutreach(authorize.href, REP.email, REP.password)).searchParams.get("code") ?? "";
	const res = await fetch(`${outreachUrl}/oauth/token`, {
		method: "POST",
		body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: "local-client", client_secret: "local-secret" }),
	});
	const body = (await res.json()) as { access_token?: string };
	if (!body.access_token) throw new Error(`${name}'s code exchange answered ${res.status}: ${JSON.stringify(body)}`);
	return body.access_token;
}

type Patch = { prospectId: number; attributes: Record<string, unknown> };

function patchOf(profile: AepProfile, load: BenchLoad): Patch {
	const { prospectId, fields } = fieldsOf(profile, load.mapping);
	return { prospectId, attributes: Object.fromEntries(fields.map((f) => [f.field, f.value])) };
}

/** One PATCH; status 0 when there was no answer. */
async function patch(outreachUrl: string, token: string, p: Patch): Promise<{ status: number; retryAfterMs: number | null }> {
	try {
		const res = await fetch(`${outreachUrl}/api/v2/prospects/${p.prospectId}`, {
			method: "PATCH",
			headers: { Authorization: `Bearer ${token}`, "Content-Type": JSON_API, Accept: JSON_API },
			body: JSON.stringify({ data: { type: "prospect", id: p.prospectId, attributes: p.attributes } }),
		});
		await res.arrayBuffer();
		const retryAfter = Number(res.headers.get("Retry-After"));
		return { status: res.status, retryAfterMs: Number.isFinite(retryAfter) && res.headers.has("Retry-After") ? retryAfter * 1000 : null };
	} catch {
		return { status: 0, retryAfterMs: null };
	}
}

const transient = (status: number) => status === 0 || status === 429 || status >= 500;

export async function runAepNative(ctx: PeerContext): Promise<Observed> {
	const { load, log } = ctx;
	await ctx.outreach.reset({ ...ctx.resetBody, users: [REP] });
	const token = await grant(ctx.outreachUrl, "aep-native");
	const scale = ctx.windowSeconds / 3600;
	const retries = [15_000 * scale, 30_000 * scale];
	let received = 0;
	let done = 0;
	let dropped = 0;
	let retrying = 0;
	const tasks: Promise<void>[] = [];

	const deliverOne = async (p: Patch) => {
		for (let attempt = 0; ; attempt++) {
			const { status } = await patch(ctx.outreachUrl, token, p);
			if (status >= 200 && status < 300) break;
			const delay = retries[attempt];
			if (!transient(status) || delay === undefined) {
				dropped++;
				break;
			}
			retrying++;
			await sleep(delay);
			retrying--;
		}
		done++;
	};

	log(`aepNative: one PATCH per profile as it arrives; on 429/5xx two retries ${retries.map((r) => `${Math.round(r)} ms`).join(" and ")} later, then dropped`);
	let postingDone = false;
	const sending = sendLoad(load.requests, load.deps, {
		concurrency: ctx.concurrency,
		retryDelaysMs: [],
		deliver: async (r) => {
			for (const profile of r.profiles) tasks.push(deliverOne(patchOf(profile, load)));
			received += r.profiles.length;
			return { status: 202, accepted: r.profiles.length };
		},
	}).finally(() => (postingDone = true));
	const t0 = Date.now();
	const progress = progressLoop(ctx, "aepNative", t0, () => `received ${received}  written or dropped ${done}  retrying ${retrying}  dropped ${dropped}`, () => postingDone && done === received);
	const { sent } = await sending;
	await Promise.all(tasks);
	await progress;
	return { userId: REP.id, sent, updates: received, failed: dropped, timedOut: false, ingest: false, work: null };
}

/** A correct sliding-window limiter: at most `limit` calls in any `windowMs`, whatever the alignment. */
function slidingWindow(limit: number, windowMs: number) {
	const log: number[] = [];
	let head = 0;
	return async () => {
		for (;;) {
			const now = Date.now();
			while (head < log.length && log[head]! <= now - windowMs) head++;
			if (log.length - head < limit) {
				log.push(now);
				return;
			}
			await sleep(log[head]! + windowMs - now + 1);
		}
	};
}

export async function runIsolateLimiter(ctx: PeerContext, consumers = 4): Promise<Observed> {
	const { load, log } = ctx;
	await ctx.outreach.reset({ ...ctx.resetBody, users: [REP] });
	const token = await grant(ctx.outreachUrl, "isolate-limiter");
	const queue: Patch[] = [];
	let head = 0;
	let received = 0;
	let done = 0;
	let gaveUp = 0;
	let sleeping = 0;
	let postingDone = false;

	const consumer = async () => {
		const limiter = slidingWindow(ctx.limit, ctx.windowSeconds * 1000);
		for (;;) {
			if (head >= queue.length) {
				if (postingDone) return;
				await sleep(5);
				continue;
			}
			const p = queue[head++]!;
			for (let attempt = 0; ; attempt++) {
				await limiter();
				const { status, retryAfterMs } = await patch(ctx.outreachUrl, token, p);
				if (status >= 200 && status < 300) break;
				if (!transient(status)) {
					gaveUp++;
					break;
				}
				// Retry-After on a 429 (Outreach's reset), else a backoff; until done.
				sleeping++;
				await sleep(status === 429 && retryAfterMs !== null ? retryAfterMs : Math.min(ctx.windowSeconds * 1000, 250 * 2 ** attempt));
				sleeping--;
			}
			done++;
		}
	};

	log(`isolateLimiter: ${consumers} consumers, each with a sliding-window limiter of ${ctx.limit} calls per ${ctx.windowSeconds} s; one PATCH per profile in arrival order, retried until done`);
	const sending = sendLoad(load.requests, load.deps, {
		concurrency: ctx.concurrency,
		retryDelaysMs: [],
		deliver: async (r) => {
			for (const profile of r.profiles) queue.push(patchOf(profile, load));
			received += r.profiles.length;
			return { status: 202, accepted: r.profiles.length };
		},
	}).finally(() => (postingDone = true));
	const t0 = Date.now();
	const workers = Array.from({ length: consumers }, consumer);
	const progress = progressLoop(
		ctx,
		"isolateLimiter",
		t0,
		() => {
			const waiting = received - done;
			const eta = Math.ceil(waiting / ctx.limit) * ctx.windowSeconds;
			return `received ${received}  done ${done}  waiting ${waiting}  sleeping on 429 ${sleeping}/${consumers}  gave up ${gaveUp}${waiting ? `  eta ≥ ${eta} s at the limit` : ""}`;
		},
		() => postingDone && done === received,
	);
	const { sent } = await sending;
	let timedOut = false;
	await Promise.race([Promise.all(workers), sleep(ctx.drainBudgetMs).then(() => (timedOut = true))]);
	if (timedOut) {
		log(`isolateLimiter: still ${received - done} waiting after ${Math.round(ctx.drainBudgetMs / 1000)} s; measuring what landed`);
		head = queue.length; // the consumers stop after their current update
	}
	await progress;
	return { userId: REP.id, sent, updates: received, failed: gaveUp, timedOut, ingest: false, work: null };
}

/** A progress line every 5 seconds (writes landed at Outreach, and the peer's own state) until `finished`. */
async function progressLoop(ctx: PeerContext, name: string, t0: number, state: () => string, finished: () => boolean): Promise<void> {
	const landed = writeCounter(ctx.outreach);
	const deadline = t0 + ctx.drainBudgetMs + 10_000;
	for (let lastLine = 0; ; ) {
		const end = finished() || Date.now() > deadline;
		if (end || Date.now() - lastLine >= 5000) {
			lastLine = Date.now();
			ctx.log(`${name.padEnd(15)} t=${secondsSince(t0)}s  writes ${await landed()}  ${state()}`);
		}
		if (end) return;
		await sleep(250);
	}
}
