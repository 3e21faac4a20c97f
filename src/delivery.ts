import { config } from "./config";
import { destinationStore } from "./destinations";
import { gateStub, type AdmitCall, type Gate, type AdmitResult, type SettleReport } from "./gate/gate";
import { ledgerStub, type OutcomeReport } from "./ledger";
import { log } from "./log";
import { count } from "./metrics";
import { patchProspect, type OutreachResponse } from "./outreach/api";
import { classify, type Outcome } from "./outreach/outcome";
import { enqueue, UpdateMessage, type Outgoing } from "./queue";
import { mergeUpdates, type Update, type Version } from "./updates";

/**
 * The queue consumer: prospect updates → Outreach PATCHes. Per batch it groups updates by gate (Outreach
 * user), merges updates for one prospect field by field, asks each gate once for grants, sends the granted
 * PATCHes (at most 6 at a time), re-sends what must wait with a delay (a deferral is not a failure and
 * spends no `max_retries`), and reports outcomes to each destination's ledger once.
 */

const MAX_DELAY_SECONDS = 43_200;
/** Transient failures are retried this many times (with backoff from RETRY_BASE_SECONDS) before failing. */
export const MAX_ATTEMPTS = 11;
const MAX_PARALLEL_CALLS = 6;
/**
 * Calls asked of the gate at once. A round is granted, sent and settled before the next is asked, so a grant
 * never waits long for its turn to be sent (its field lock and budget entry stay short-lived) and one
 * invocation never holds a large share of the hour's budget.
 */
const ROUND_CALLS = MAX_PARALLEL_CALLS * 4;

type Item = { destinationId: string; attempt: number; update: Update; message: Message<unknown> };

/**
 * Queue delays are whole seconds and a batch waits up to max_batch_timeout (1 s) to fill, so a deferral
 * re-sent for its exact slot would reach the gate up to ~2 s late, and under a steady backlog every window
 * would start that much late (7 % of a 30-second window). So a deferral is re-sent to arrive up to
 * EARLY_SECONDS + 1 s early, and a call whose slot is at most SLOT_WAIT_MS away waits for it inside the
 * consumer (wall time, not CPU time) and asks the gate again then.
 */
export const SLOT_WAIT_MS = 3_000;
const EARLY_SECONDS = 1;
/** A batch waits for slots at most this long in all, so one batch never holds the consumer for long. */
const MAX_BATCH_WAIT_MS = 10_000;

/** The queue delay for a deferral to `at`: whole seconds, a little early (see SLOT_WAIT_MS). */
export function deferralDelay(at: number, now: number): number {
	return Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.floor((at - now) / 1000) - EARLY_SECONDS));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with jitter for the `attempt`-th retry. */
export function backoffSeconds(baseSeconds: number, attempt: number, random = Math.random()): number {
	const exp = baseSeconds * 2 ** attempt;
	return Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.round(exp * (0.75 + random * 0.5))));
}

/** What one batch decided: ledger outcomes per destination and the updates to send again. */
class Plan {
	readonly outcomes = new Map<string, OutcomeReport[]>();
	readonly outgoing: Outgoing[] = [];
	readonly stats = { calls: 0, delivered: 0, failed: 0, superseded: 0, deferred: 0, held: 0, retried: 0 };

	report(item: Item, o: OutcomeReport): void {
		const list = this.outcomes.get(item.destinationId) ?? this.outcomes.set(item.destinationId, []).get(item.destinationId)!;
		list.push(o);
		if (o.state === "delivered") this.stats.delivered++;
		else if (o.state === "failed") this.stats.failed++;
		else if (o.state === "superseded") this.stats.superseded++;
	}

	resend(items: Item[], delaySeconds: number, attempt?: number): void {
		for (const i of items) {
			this.outgoing.push({ destinationId: i.destinationId, attempt: attempt ?? i.attempt, delaySeconds, updates: [i.update] });
		}
	}

	defer(items: Item[], delaySeconds: number): void {
		this.stats.deferred += items.length;
		this.resend(items, delaySeconds);
	}

	hold(items: Item[], delaySeconds: number): void {
		this.stats.held += items.length;
		this.resend(items, delaySeconds);
	}

	/** Finishes an update: failed when any of its fields failed earlier, else delivered. */
	finish(item: Item): void {
		const failed = item.update.failedFields ?? {};
		const names = Object.keys(failed);
		if (names.length === 0) this.report(item, { id: item.update.id, state: "delivered", attempts: item.attempt + 1 });
		else this.report(item, { id: item.update.id, state: "failed", fields: names, reason: Object.values(failed).join(" | "), attempts: item.attempt + 1 });
	}

	/** Merges outgoing updates by (destination, attempt, delay) so they pack into few messages. */
	packed(): Outgoing[] {
		const groups = new Map<string, Outgoing>();
		for (const o of this.outgoing) {
			const key = `${o.destinationId}\u0000${o.attempt}\u0000${o.delaySeconds}`;
			const g = groups.get(key);
			if (g) g.updates.push(...o.updates);
			else groups.set(key, { ...o, updates: [...o.updates] });
		}
		return [...groups.values()];
	}
}

/** A counting semaphore: at most `n` tasks run at once. */
function limiter(n: number) {
	let active = 0;
	const waiting: (() => void)[] = [];
	return async <T>(task: () => Promise<T>): Promise<T> => {
		if (active >= n) await new Promise<void>((r) => waiting.push(r));
		active++;
		try {
			return await task();
		} finally {
			active--;
			waiting.shift()?.();
		}
	};
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
	const out = new Map<string, T[]>();
	for (const i of items) (out.get(key(i)) ?? out.set(key(i), []).get(key(i))!).push(i);
	return out;
}

export async function deliver(batch: MessageBatch<unknown>, env: Env): Promise<void> {
	const started = Date.now();
	const batchId = crypto.randomUUID();
	const cfg = config(env);
	const holdSeconds = Math.min(300, Math.max(5, Math.round(cfg.RETRY_BASE_SECONDS * 10)));
	const byId = new Map<string, Item>();
	const retry = new Set<Message<unknown>>();
	for (const msg of batch.messages) {
		const parsed = UpdateMessage.safeParse(msg.body);
		if (!parsed.success) {
			// Not ours to drop: after the queue's retries it reaches the dead-letter consumer, which logs it.
			log("error", "queue_message_invalid", { batchId, messageId: msg.id });
			retry.add(msg);
			continue;
		}
		for (const update of parsed.data.updates) {
			// The same update twice in one batch (a duplicate delivery or a re-send racing a retry): keep one.
			const seen = byId.get(update.id);
			if (seen && seen.attempt >= parsed.data.attempt) continue;
			byId.set(update.id, { destinationId: parsed.data.destinationId, attempt: parsed.data.attempt, update, message: msg });
		}
	}
	const items = [...byId.values()];

	const plan = new Plan();
	const store = destinationStore(env);
	const byGate = new Map<string, Item[]>();
	await Promise.all(
		[...groupBy(items, (i) => i.destinationId)].map(async ([destinationId, its]) => {
			const [destination, connection] = await Promise.all([store.get(destinationId), store.getConnection(destinationId)]);
			if (!destination) {
				// Deleted with its ledger: nothing left to report to.
				log("warn", "updates_dropped", { batchId, destinationId, updates: its.length, reason: "destination deleted" });
			} else if (!destination.enabled || !connection || connection.status !== "connected") {
				plan.hold(its, holdSeconds);
			} else {
				const list = byGate.get(connection.gate) ?? byGate.set(connection.gate, []).get(connection.gate)!;
				list.push(...its);
			}
		}),
	);

	const run = limiter(MAX_PARALLEL_CALLS);
	await Promise.all(
		[...byGate].map(async ([gate, its]) => {
			try {
				await deliverThroughGate(env, gate, its, plan, run, holdSeconds);
			} catch (err) {
				// One gate's trouble retries only its own messages; other users' work in this batch goes on.
				log("error", "gate_batch_failed", { batchId, gate, updates: its.length, error: err instanceof Error ? err.message.slice(0, 200) : "Error" });
				for (const i of its) retry.add(i.message);
			}
		}),
	);

	const outgoing = plan.packed();
	if (outgoing.length) await enqueue(env, outgoing);
	await Promise.all(
		[...plan.outcomes].map(async ([destinationId, outcomes]) => {
			count("ledgerCalls");
			await ledgerStub(env, destinationId).record(outcomes);
			const failed = outcomes.filter((o) => o.state === "failed");
			if (failed.length) log("warn", "failure_recorded", { batchId, destinationId, updates: failed.length, updateIds: failed.slice(0, 20).map((o) => o.id) });
		}),
	);
	for (const msg of batch.messages) {
		if (retry.has(msg)) msg.retry({ delaySeconds: backoffSeconds(cfg.RETRY_BASE_SECONDS, Math.min(msg.attempts, 8)) });
		else msg.ack();
	}
	log("info", "batch_delivered", {
		batchId,
		destinationIds: [...new Set(items.map((i) => i.destinationId))],
		messages: batch.messages.length,
		updates: items.length,
		...plan.stats,
		durationMs: Date.now() - started,
	});
}

type Call = AdmitCall & { items: Item[]; owners: Map<string, Item>; values: Record<string, unknown> };

/** Merges a gate's items per (destination, prospect) into calls; updates that supply no field are superseded. */
function buildCalls(items: Item[], plan: Plan): Call[] {
	const calls: Call[] = [];
	// Oldest first (by arrival), so a backlog drains in the order AEP sent it.
	const arrival = (i: Item) => Math.min(...Object.values(i.update.fields).map((f) => f.v[1]));
	const sorted = [...items].sort((a, b) => arrival(a) - arrival(b) || a.update.id.localeCompare(b.update.id));
	for (const [key, group] of groupBy(sorted, (i) => `${i.destinationId}:${i.update.prospectId}`)) {
		const byUpdate = new Map(group.map((i) => [i.update, i]));
		const { fields, owners, losers } = mergeUpdates(group.map((i) => i.update));
		for (const l of losers) plan.report(byUpdate.get(l)!, { id: l.id, state: "superseded" });
		const ownerItems = new Map([...owners].map(([field, u]) => [field, byUpdate.get(u)!]));
		const versions: Record<string, Version> = {};
		const values: Record<string, unknown> = {};
		for (const [name, f] of Object.entries(fields)) {
			versions[name] = f.v;
			values[name] = f.value;
		}
		calls.push({
			key,
			destinationId: group[0]!.destinationId,
			prospectId: group[0]!.update.prospectId,
			fields: versions,
			values,
			owners: ownerItems,
			items: [...new Set(ownerItems.values())],
		});
	}
	return calls;
}

async function deliverThroughGate(
	env: Env,
	gateName: string,
	items: Item[],
	plan: Plan,
	run: ReturnType<typeof limiter>,
	holdSeconds: number,
): Promise<void> {
	const calls = buildCalls(items, plan);
	if (calls.length === 0) return;
	const gate = gateStub(env, gateName);
	const waitUntil = Date.now() + MAX_BATCH_WAIT_MS;
	let pending = calls;
	let waiting: Call[] = [];
	let waitAt = Infinity;
	while (pending.length || waiting.length) {
		if (pending.length === 0) {
			await sleep(Math.max(0, waitAt - Date.now()));
			[pending, waiting, waitAt] = [waiting, [], Infinity];
		}
		const near = await admitAndSend(env, gate, pending.slice(0, ROUND_CALLS), plan, run, holdSeconds, waitUntil);
		pending = pending.slice(ROUND_CALLS);
		waiting.push(...near.calls);
		if (near.calls.length) waitAt = Math.min(waitAt, near.at);
	}
}

/**
 * One round with the gate: admit the calls, send the granted PATCHes, settle them. Answers the deferred calls
 * whose slot is near enough to wait for here (see SLOT_WAIT_MS) and when the first of them is due; the other
 * deferrals are re-sent to the queue.
 */
async function admitAndSend(
	env: Env,
	gate: DurableObjectStub<Gate>,
	calls: Call[],
	plan: Plan,
	run: ReturnType<typeof limiter>,
	holdSeconds: number,
	waitUntil: number,
): Promise<{ calls: Call[]; at: number }> {
	const cfg = config(env);
	// Oldest updates first, so a backlog drains in arrival order.
	count("gateCalls");
	const admitted: AdmitResult = await gate.admit(calls.map(({ key, destinationId, prospectId, fields }) => ({ key, destinationId, prospectId, fields })));
	// The gate's clock may differ from ours (another machine): slots are read relative to its `now`.
	const answeredAt = Date.now();
	const byKey = new Map(calls.map((c) => [c.key, c]));

	for (const c of calls) {
		const held = admitted.held[c.destinationId];
		if (!held) continue;
		const wait = held.status === "unavailable" && "retryAfterMs" in held ? Math.ceil(Number(held.retryAfterMs ?? 0) / 1000) : holdSeconds;
		plan.hold(c.items, Math.max(1, wait));
	}
	for (const key of admitted.stale) for (const i of byKey.get(key)!.items) plan.report(i, { id: i.update.id, state: "superseded" });
	for (const key of admitted.done) for (const i of byKey.get(key)!.items) plan.finish(i);
	const near: { calls: Call[]; at: number } = { calls: [], at: Infinity };
	for (const d of admitted.deferred) {
		const wait = d.at - admitted.now;
		const at = answeredAt + wait;
		if (wait <= SLOT_WAIT_MS && at <= waitUntil) {
			near.calls.push(byKey.get(d.key)!);
			near.at = Math.min(near.at, at);
		} else plan.defer(byKey.get(d.key)!.items, deferralDelay(d.at, admitted.now));
	}

	const settle: SettleReport = { calls: [] };
	let newestAnswer = 0;
	await Promise.all(
		admitted.granted.map((g) =>
			run(async () => {
				const call = byKey.get(g.key)!;
				const values = Object.fromEntries(g.fields.map((f) => [f, call.values[f]]));
				const { res, outcome } = await send(env, gate, call.destinationId, admitted.tokens[call.destinationId]!, call.prospectId, values);
				plan.stats.calls++;
				const answeredAt = Date.now();
				settle.calls.push({
					grantId: g.grantId,
					answeredAt,
					prospectId: call.prospectId,
					fields: Object.fromEntries(g.fields.map((f) => [f, call.fields[f]!])),
					delivered: outcome.kind === "delivered",
				});
				if (res.rate.remaining !== undefined && res.rate.resetAt !== undefined && res.status !== 429 && answeredAt >= newestAnswer) {
					newestAnswer = answeredAt;
					settle.observed = { grantId: g.grantId, remaining: res.rate.remaining, resetAt: res.rate.resetAt };
				}
				if (outcome.kind === "rate_limited") settle.pauseUntil = Math.max(settle.pauseUntil ?? 0, outcome.until);
				await apply(outcome, call, g.fields, plan, { gate, holdSeconds, retryBase: cfg.RETRY_BASE_SECONDS });
			}),
		),
	);
	if (settle.calls.length) {
		count("gateCalls");
		await gate.settle(settle);
	}
	return near;
}

/** One PATCH, with the single refresh-and-retry a 401 earns. */
async function send(
	env: Env,
	gate: DurableObjectStub<Gate>,
	destinationId: string,
	token: string,
	prospectId: number,
	values: Record<string, unknown>,
): Promise<{ res: OutreachResponse; outcome: Outcome }> {
	const base = config(env).OUTREACH_API_BASE;
	count("patchCalls");
	let res = await patchProspect(base, token, prospectId, values);
	let outcome = classify(res);
	if (outcome.kind !== "refresh") return { res, outcome };
	count("gateCalls");
	const fresh = await gate.accessToken(destinationId, token);
	if (!fresh.ok) {
		return {
			res,
			outcome:
				fresh.status === "reconnect_required"
					? { kind: "connection_lost", reason: fresh.reason }
					: { kind: "transient", reason: `Could not refresh the Outreach token: ${fresh.reason}` },
		};
	}
	count("patchCalls");
	res = await patchProspect(base, fresh.token, prospectId, values);
	outcome = classify(res);
	if (outcome.kind === "refresh") outcome = { kind: "transient", reason: "Outreach refused a freshly refreshed token (401)" };
	return { res, outcome };
}

/** Applies one call's outcome to the updates that supplied its fields. */
async function apply(
	outcome: Outcome,
	call: Call,
	grantedFields: string[],
	plan: Plan,
	ctx: { gate: DurableObjectStub<Gate>; holdSeconds: number; retryBase: number },
): Promise<void> {
	const granted = new Set(grantedFields);
	// Updates whose fields the gate found stale are superseded whatever this call's fate.
	const live = call.items.filter((i) => {
		const owned = [...call.owners].filter(([f, o]) => o === i && granted.has(f));
		if (owned.length === 0) plan.report(i, { id: i.update.id, state: "superseded" });
		return owned.length > 0;
	});
	switch (outcome.kind) {
		case "delivered":
			for (const i of live) plan.finish(i);
			return;
		case "failed":
			for (const i of live) {
				const fields = [...call.owners].filter(([f, o]) => o === i && granted.has(f)).map(([f]) => f);
				plan.report(i, { id: i.update.id, state: "failed", reason: outcome.reason, fields, attempts: i.attempt + 1 });
			}
			return;
		case "field_invalid": {
			const owner = call.owners.get(outcome.field);
			if (!owner || !live.includes(owner)) {
				for (const i of live) plan.report(i, { id: i.update.id, state: "failed", reason: outcome.reason, attempts: i.attempt + 1 });
				return;
			}
			// Resend once without the refused field; its owner remembers the field's failure.
			for (const i of live) {
				if (i !== owner) {
					plan.resend([i], 0);
					continue;
				}
				const { [outcome.field]: _refused, ...rest } = i.update.fields;
				const next = { ...i, update: { ...i.update, fields: rest, failedFields: { ...i.update.failedFields, [outcome.field]: outcome.reason } } };
				if (Object.keys(rest).length === 0) plan.finish(next);
				else plan.resend([next], 0);
			}
			return;
		}
		case "rate_limited":
			plan.defer(live, Math.max(1, Math.ceil((outcome.until - Date.now()) / 1000)));
			return;
		case "connection_lost":
			count("gateCalls");
			await ctx.gate.markReconnectRequired(call.destinationId, outcome.reason);
			log("warn", "token_lost", { destinationId: call.destinationId, reason: outcome.reason });
			plan.hold(live, ctx.holdSeconds);
			return;
		case "refresh":
		case "transient":
			for (const i of live) {
				const attempt = i.attempt + 1;
				const reason = outcome.kind === "transient" ? outcome.reason : "Outreach answered 401";
				if (attempt >= MAX_ATTEMPTS) {
					plan.report(i, { id: i.update.id, state: "failed", reason: `Gave up after ${attempt} attempts: ${reason}`, fields: Object.keys(i.update.fields), attempts: attempt });
				} else {
					plan.report(i, { id: i.update.id, state: "pending", reason, attempts: attempt });
					plan.stats.retried++;
					const notBefore = outcome.kind === "transient" && outcome.retryAt ? Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((outcome.retryAt - Date.now()) / 1000))) : 0;
					plan.resend([i], Math.max(backoffSeconds(ctx.retryBase, attempt - 1), notBefore), attempt);
				}
			}
			return;
	}
}

/** The dead-letter queue's consumer: every update of a message whose batch kept crashing is recorded as failed. */
export async function recordDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
	const byDestination = new Map<string, OutcomeReport[]>();
	for (const msg of batch.messages) {
		const parsed = UpdateMessage.safeParse(msg.body);
		if (!parsed.success) {
			log("error", "dead_letter_invalid", { messageId: msg.id });
			continue;
		}
		const list = byDestination.get(parsed.data.destinationId) ?? byDestination.set(parsed.data.destinationId, []).get(parsed.data.destinationId)!;
		for (const u of parsed.data.updates)
			list.push({
				id: u.id,
				state: "failed",
				fields: Object.keys(u.fields),
				reason: "Delivery kept crashing on this update's batch and the queue's retries ran out. Check `wrangler tail`, then replay it.",
				attempts: parsed.data.attempt + 1,
			});
	}
	await Promise.all(
		[...byDestination].map(async ([destinationId, outcomes]) => {
			await ledgerStub(env, destinationId).record(outcomes);
			log("warn", "failure_recorded", { destinationId, updates: outcomes.length, source: "dead_letter_queue" });
		}),
	);
	batch.ackAll();
}
