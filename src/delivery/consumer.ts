import { config } from "../platform/config";
import { crashPoint, faultAt } from "../platform/crashpoints";
import { destinationStore, type ConnectionRecord } from "../destinations/records";
import { formerGateOf, gateName, gateStub, type AdmitRequest, type AdmitResult, type Gate, type SettleReport } from "../gate/gate";
import { delayStepSeconds, slotWaitMs } from "../gate/budget";
import type { FieldVersion } from "../gate/versions";
import { ledgerStub, type BatchReport, type HoldReason, type OutcomeReport } from "../ledger/ledger";
import { log } from "../platform/log";
import { revisionOf, type StoredMapping } from "../destinations/mapping";
import { count } from "../platform/metrics";
import { patchProspect, type OutreachResponse } from "../outreach/api";
import { classify, type Outcome } from "../outreach/outcome";
import { backoffSeconds, MAX_DELAY_SECONDS, QUEUE_BACKOFF_STEPS, Salvage, UpdateMessage } from "./message";
import { bulkWays } from "../gate/path";
import { mergeUpdates, type Update } from "../updates/update";

/**
 * The queue consumer: prospect updates → Outreach PATCHes. Per batch it groups updates by gate (Outreach
 * user), merges updates for one prospect field by field, asks each gate for grants a round at a time, sends the
 * granted PATCHes (at most 6 at a time, each only while its lease allows), and reports each destination's
 * outcomes — with what must be handed to the queue again or held — to its ledger once. The ledger does every
 * re-send (src/ledger/outbox.ts): a message is acknowledged only once its destination's report is recorded, and
 * a message whose processing failed is retried with backoff, without copying anything.
 */

/** Transient failures are retried this many times (with backoff from RETRY_BASE_SECONDS) before failing. */
export const MAX_ATTEMPTS = 11;
const MAX_PARALLEL_CALLS = 6;
/**
 * Calls asked of the gate at once. A round is granted, sent and settled before the next is asked, so a grant
 * waits little for its turn to be sent (a call whose lease is too short by then is not sent at all).
 */
const ROUND_CALLS = 100;

type Item = { destinationId: string; update: Update; message: Message<unknown> };

/**
 * Queue delays are whole seconds and a batch waits up to max_batch_timeout (1 s) to fill, so a deferral
 * re-sent for its exact slot would reach the gate up to ~2 s late, and under a steady backlog every window
 * would start that much late. So a deferral comes back a little early — its delay rounded down to a step of
 * the window (1 s at the compressed clocks of tests, 30 s at the real hour), so that the deferrals of a batch
 * pack into few queue messages — and a call whose slot is at most a step and a bit away waits for it inside
 * the consumer (wall time, not CPU time) and asks the gate again then.
 */
const EARLY_SECONDS = 1;

/** A destination whose grant moved to another gate is asked about again after this long. */
const MOVED_RETRY_SECONDS = 5;

/** The queue delay for a deferral to `at`: whole seconds, a little early, rounded down to the step. */
export function deferralDelay(at: number, now: number, step = 1): number {
	const seconds = Math.max(0, Math.floor((at - now) / 1000) - EARLY_SECONDS);
	return Math.floor(seconds / step) * step;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


/** What one batch decided, per destination: the report for its ledger. */
class Plan {
	readonly reports = new Map<string, BatchReport>();
	readonly stats = { calls: 0, delivered: 0, failed: 0, superseded: 0, deferred: 0, held: 0, retried: 0, bulk: 0 };

	private of(destinationId: string): BatchReport {
		let r = this.reports.get(destinationId);
		if (!r) this.reports.set(destinationId, (r = { outcomes: [], resend: [], hold: [] }));
		return r;
	}

	report(item: Item, o: OutcomeReport): void {
		this.of(item.destinationId).outcomes.push(o);
		if (o.state === "delivered") this.stats.delivered++;
		else if (o.state === "failed") this.stats.failed++;
		else if (o.state === "superseded") this.stats.superseded++;
	}

	/** Hands the update back to its ledger, to be queued again after `delaySeconds` (as `update`, when it changed). */
	resend(item: Item, delaySeconds: number, update: Update = item.update): void {
		// Longer than the queue's 12 hours: the ledger keeps it until then.
		this.of(item.destinationId).resend.push({ update, delaySeconds: Math.max(0, delaySeconds) });
	}

	/** Sends the updates back to wait; `slot`: the budget slot the gate reserved for their call. */
	defer(items: Item[], delaySeconds: number, slot?: number): void {
		this.stats.deferred += items.length;
		for (const i of items) {
			const { slot: _previous, ...update } = i.update;
			this.resend(i, delaySeconds, slot === undefined ? update : { ...update, slot });
		}
	}

	hold(items: Item[], reason: HoldReason, generation?: number): void {
		this.stats.held += items.length;
		for (const i of items) this.of(i.destinationId).hold.push({ update: i.update, reason, ...(generation === undefined ? {} : { generation }) });
	}

	/** Finishes an update: failed when any of its fields failed earlier, else delivered. */
	finish(item: Item): void {
		const failed = item.update.failedFields ?? {};
		const names = Object.keys(failed);
		const attempts = (item.update.attempt ?? 0) + 1;
		if (names.length === 0) this.report(item, { id: item.update.id, state: "delivered", attempts });
		else this.report(item, { id: item.update.id, state: "failed", fields: names, reason: Object.values(failed).join(" | "), attempts });
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


/**
 * One Outreach user's share of a batch: its destinations' view, their items for PATCH, and the updates of
 * destinations that may deliver in bulk (offered to the gate first).
 */
type GateWork = { request: AdmitRequest["destinations"]; items: Item[]; bulk: Map<string, Item[]>; connections: Map<string, ConnectionRecord> };

export async function deliver(batch: MessageBatch<unknown>, env: Env): Promise<void> {
	const started = Date.now();
	const batchId = crypto.randomUUID();
	const cfg = config(env);
	const plan = new Plan();
	const failedDestinations = new Set<string>();
	const unreadable: { destinationId: string; items: { id: string; gen?: number }[] }[] = [];
	const byId = new Map<string, Item>();
	for (const msg of batch.messages) {
		if (faultAt("queue.lost", (msg.body as { destinationId?: string } | null)?.destinationId)) {
			msg.ack();
			continue;
		}
		const parsed = UpdateMessage.safeParse(msg.body);
		if (!parsed.success) {
			log("error", "queue_message_invalid", { batchId, messageId: msg.id });
			const salvaged = Salvage.safeParse(msg.body);
			if (salvaged.success) unreadable.push({ destinationId: salvaged.data.destinationId, items: salvaged.data.updates.map((u) => ({ id: u.id, gen: u.gen })) });
			continue;
		}
		for (const update of parsed.data.updates) {
			// The same update twice in one batch (a duplicate delivery, a re-send racing a retry): keep the newest copy.
			const seen = byId.get(update.id);
			if (seen && ((seen.update.gen ?? 0) > (update.gen ?? 0) || ((seen.update.gen ?? 0) === (update.gen ?? 0) && (seen.update.attempt ?? 0) >= (update.attempt ?? 0))))
				continue;
			byId.set(update.id, { destinationId: parsed.data.destinationId, update, message: msg });
		}
	}
	const items = [...byId.values()];

	const store = destinationStore(env);
	const byGate = new Map<string, GateWork>();
	await Promise.all(
		[...groupBy(items, (i) => i.destinationId)].map(async ([destinationId, its]) => {
			try {
				const [destination, connection, mapping] = await Promise.all([store.get(destinationId), store.getConnection(destinationId), store.getMapping(destinationId)]);
				if (!destination) {
					// Deleted with its ledger: nothing left to report to.
					log("warn", "updates_dropped", { batchId, destinationId, updates: its.length, reason: "destination deleted" });
					return;
				}
				const live = dropOlderRevisions(its, mapping, plan);
				if (live.length === 0) return;
				if (!destination.enabled) plan.hold(live, "paused");
				else if (!connection || connection.status !== "connected") plan.hold(live, "reconnect", connection?.generation ?? 0);
				else {
					const gate = gateName(connection.user);
					const work = byGate.get(gate) ?? byGate.set(gate, { request: {}, items: [], bulk: new Map(), connections: new Map() }).get(gate)!;
					const formerGate = formerGateOf(connection);
					work.request[destinationId] = { revisions: mapping?.revisions ?? {}, ...(formerGate ? { formerGate } : {}) };
					work.connections.set(destinationId, connection);
					// A destination that may use a bulk path offers its updates to the gate, which takes them when its
					// user's backlog calls for bulk; PATCH-only ones (sent back by a bulk path) go by PATCH.
					const ways = bulkWays(destination, connection);
					const offered: Item[] = [];
					for (const i of live) ((ways.modify || ways.imports) && !i.update.patchOnly ? offered : work.items).push(i);
					if (offered.length) work.bulk.set(destinationId, offered);
				}
			} catch (err) {
				log("error", "destination_read_failed", { batchId, destinationId, error: err instanceof Error ? err.name : "Error" });
				failedDestinations.add(destinationId);
			}
		}),
	);

	const run = limiter(MAX_PARALLEL_CALLS);
	await Promise.all(
		[...byGate].map(async ([gate, work]) => {
			try {
				await deliverThroughGate(env, gate, work, plan, run);
			} catch (err) {
				// One gate's trouble retries only its own destinations' messages; other users' work goes on.
				log("error", "gate_batch_failed", { batchId, gate, updates: work.items.length, error: err instanceof Error ? err.message.slice(0, 200) : "Error" });
				for (const d of Object.keys(work.request)) failedDestinations.add(d);
			}
		}),
	);

	for (const u of unreadable) {
		if (failedDestinations.has(u.destinationId)) continue;
		await ledgerStub(env, u.destinationId)
			.failUnknown(u.destinationId, u.items, [], "The queue message carrying this update could not be read. Replay it; if it fails again, check `wrangler tail` for queue_message_invalid.")
			.catch(() => {});
	}

	await Promise.all(
		[...plan.reports].map(async ([destinationId, report]) => {
			if (failedDestinations.has(destinationId)) return;
			try {
				count("ledgerCalls");
				await ledgerStub(env, destinationId).settle(destinationId, report);
			} catch (err) {
				log("error", "ledger_report_failed", { batchId, destinationId, error: err instanceof Error ? err.name : "Error" });
				failedDestinations.add(destinationId);
			}
		}),
	);

	// A message is done once its destination's report is recorded; the others are retried, with backoff.
	for (const msg of batch.messages) {
		const destinationId = (msg.body as { destinationId?: unknown } | null)?.destinationId;
		if (typeof destinationId === "string" && failedDestinations.has(destinationId))
			msg.retry({ delaySeconds: backoffSeconds(cfg.RETRY_BASE_SECONDS, Math.min(msg.attempts - 1, QUEUE_BACKOFF_STEPS)) });
		else msg.ack();
	}
	log("info", "batch_delivered", {
		batchId,
		destinationIds: [...new Set(items.map((i) => i.destinationId))],
		messages: batch.messages.length,
		updates: items.length,
		...plan.stats,
		retriedMessages: failedDestinations.size,
		durationMs: Date.now() - started,
	});
}

/**
 * Drops the fields an update carries under an older revision than the consumer's view of the mapping (the
 * field moved to another source since): an update left without fields is superseded, without a call.
 */
function dropOlderRevisions(items: Item[], mapping: StoredMapping | null, plan: Plan): Item[] {
	if (!mapping) return items;
	return items.flatMap((i) => {
		const fields = Object.fromEntries(Object.entries(i.update.fields).filter(([f, fu]) => fu.v[0] >= revisionOf(mapping, f)));
		if (Object.keys(fields).length === Object.keys(i.update.fields).length) return [i];
		if (Object.keys(fields).length === 0) {
			plan.report(i, { id: i.update.id, state: "superseded" });
			return [];
		}
		return [{ ...i, update: { ...i.update, fields } }];
	});
}

type Call = {
	key: string;
	destinationId: string;
	prospectId: number;
	fields: Record<string, FieldVersion>;
	/** The budget slot reserved for this call, when one of its updates was deferred before. */
	slot?: number;
	items: Item[];
	owners: Map<string, Item>;
	values: Record<string, unknown>;
};

/** Merges a gate's items per (destination, prospect) into calls; updates that supply no field are superseded. */
function buildCalls(items: Item[], plan: Plan): Call[] {
	const calls: Call[] = [];
	// Oldest first (by arrival), so a backlog drains in the order AEP sent it.
	const arrival = (i: Item) => Math.min(...Object.values(i.update.fields).map((f) => f.v[2]));
	const sorted = [...items].sort((a, b) => arrival(a) - arrival(b) || a.update.id.localeCompare(b.update.id));
	for (const [key, group] of groupBy(sorted, (i) => `${i.destinationId}:${i.update.prospectId}`)) {
		const byUpdate = new Map(group.map((i) => [i.update, i]));
		const { fields, owners, losers } = mergeUpdates(group.map((i) => i.update));
		for (const l of losers) plan.report(byUpdate.get(l)!, { id: l.id, state: "superseded" });
		const ownerItems = new Map([...owners].map(([field, u]) => [field, byUpdate.get(u)!]));
		const versions: Record<string, FieldVersion> = {};
		const values: Record<string, unknown> = {};
		for (const [name, f] of Object.entries(fields)) {
			versions[name] = { v: f.v, u: owners.get(name)!.id };
			values[name] = f.value;
		}
		const slot = group.find((i) => i.update.slot !== undefined)?.update.slot;
		calls.push({
			key,
			destinationId: group[0]!.destinationId,
			prospectId: group[0]!.update.prospectId,
			...(slot === undefined ? {} : { slot }),
			fields: versions,
			values,
			owners: ownerItems,
			items: [...new Set(ownerItems.values())],
		});
	}
	return calls;
}

async function deliverThroughGate(env: Env, gateName: string, work: GateWork, plan: Plan, run: ReturnType<typeof limiter>): Promise<void> {
	const gate = gateStub(env, gateName);
	for (const [destinationId, items] of work.bulk) {
		count("gateCalls");
		const offer = await gate.offerBulk(destinationId, items.map((i) => i.update));
		// Taken: the gate delivers them and reports their outcomes to the ledger. The others go by PATCH now, unless
		// the gate knows the destination paused (this consumer's copy of its record may be older): then they are held.
		if (offer.paused) {
			plan.hold(items, "paused");
			continue;
		}
		const taken = new Set(offer.taken);
		for (const i of items) if (!taken.has(i.update.id)) work.items.push(i);
		plan.stats.bulk += taken.size;
	}
	const calls = buildCalls(work.items, plan);
	if (calls.length === 0) return;
	// A batch waits for slots at most this long in all, so one batch never holds the consumer for long.
	const waitUntil = Date.now() + Math.max(10_000, 2 * slotWaitMs(config(env).OUTREACH_RATE_WINDOW_SECONDS));
	let pending = calls;
	let waiting: Call[] = [];
	let waitAt = Infinity;
	// A round's settle report rides with the next round's admission when that follows at once; before a wait
	// and at the end it goes on its own, so no lock or grant waits on the consumer's sleep.
	let unsettled: SettleReport | undefined;
	const settleNow = async () => {
		if (!unsettled) return;
		count("gateCalls");
		await gate.settle(unsettled);
		unsettled = undefined;
	};
	while (pending.length || waiting.length) {
		if (pending.length === 0) {
			await settleNow();
			await sleep(Math.max(0, waitAt - Date.now()));
			[pending, waiting, waitAt] = [waiting, [], Infinity];
		}
		const near = await admitAndSend(env, gate, pending.slice(0, ROUND_CALLS), work, plan, run, waitUntil, unsettled);
		unsettled = near.settle;
		pending = pending.slice(ROUND_CALLS);
		waiting.push(...near.calls);
		if (near.calls.length) waitAt = Math.min(waitAt, near.at);
	}
	await settleNow();
}

/**
 * One round with the gate: admit the calls, send the granted PATCHes, settle them. Answers the deferred calls
 * whose slot is near enough to wait for here (see slotWaitMs) and when the first of them is due; the other
 * deferrals go back to their ledgers with their delay.
 */
async function admitAndSend(
	env: Env,
	gate: DurableObjectStub<Gate>,
	calls: Call[],
	work: GateWork,
	plan: Plan,
	run: ReturnType<typeof limiter>,
	waitUntil: number,
	previous?: SettleReport,
): Promise<{ calls: Call[]; at: number; settle?: SettleReport }> {
	const cfg = config(env);
	const destinations = Object.fromEntries([...new Set(calls.map((c) => c.destinationId))].map((d) => [d, work.request[d]!]));
	count("gateCalls");
	const sentAt = Date.now();
	const admitted: AdmitResult = await gate.admit({
		calls: calls.map(({ key, destinationId, prospectId, fields, slot }) => ({ key, destinationId, prospectId, fields, ...(slot === undefined ? {} : { slot }) })),
		destinations,
		...(previous ? { settle: previous } : {}),
	});
	// The gate's clock may differ from ours (another machine): its times are read relative to its `now` — a
	// deadline from the moment we asked, never later than the gate's own; a start from the moment it answered,
	// never earlier than the gate's own.
	const answeredAt = Date.now();
	const local = (gateTime: number) => sentAt + (gateTime - admitted.now);
	const localStart = (gateTime: number) => answeredAt + (gateTime - admitted.now);
	const byKey = new Map(calls.map((c) => [c.key, c]));

	for (const c of calls) {
		const held = admitted.held[c.destinationId];
		if (!held) continue;
		if (held.status === "moved") {
			// This gate let the destination go: the connection record read from KV is older than the move.
			destinationStore(env).forget(c.destinationId);
			plan.defer(c.items, MOVED_RETRY_SECONDS);
		} else if (held.status === "unavailable") plan.defer(c.items, Math.max(1, Math.ceil(held.retryAfterMs / 1000)));
		else if (held.status === "paused") plan.hold(c.items, "paused");
		else {
			log("warn", "updates_held", { destinationId: c.destinationId, status: held.status, reason: held.reason.slice(0, 200) });
			plan.hold(c.items, "reconnect", work.connections.get(c.destinationId)?.generation ?? 0);
		}
	}
	for (const key of admitted.stale) for (const i of byKey.get(key)!.items) plan.report(i, { id: i.update.id, state: "superseded" });
	for (const key of admitted.done) for (const i of byKey.get(key)!.items) plan.finish(i);
	const near: { calls: Call[]; at: number; settle?: SettleReport } = { calls: [], at: Infinity };
	const step = delayStepSeconds(cfg.OUTREACH_RATE_WINDOW_SECONDS);
	for (const d of admitted.deferred) {
		const call = byKey.get(d.key)!;
		call.slot = d.slot;
		const wait = d.at - admitted.now;
		const at = answeredAt + wait;
		if (wait <= slotWaitMs(cfg.OUTREACH_RATE_WINDOW_SECONDS) && at <= waitUntil) {
			near.calls.push(call);
			near.at = Math.min(near.at, at);
		} else plan.defer(call.items, deferralDelay(d.at, admitted.now, step), d.slot);
	}

	const settle: SettleReport = { calls: [] };
	let newestAnswer = 0;
	const timeoutMs = cfg.OUTREACH_TIMEOUT_SECONDS * 1000;
	// Once Outreach answers 429, the round's calls not yet sent wait for the reset it named.
	let haltedUntil = 0;
	await Promise.all(
		admitted.granted.map(async (g) => {
			// Granted for its slot a moment from now: wait for it here, outside the limiter.
			if (g.startAt !== undefined) await sleep(Math.max(0, localStart(g.startAt) - Date.now()));
			await run(async () => {
				const call = byKey.get(g.key)!;
				const fields = Object.fromEntries(g.fields.map((f) => [f, call.fields[f]!]));
				const entry = { grantId: g.grantId, destinationId: call.destinationId, prospectId: call.prospectId, fields };
				const deadline = local(g.leaseUntil);
				if (haltedUntil > Date.now()) {
					settle.calls.push({ ...entry, sent: false, answeredAt: Date.now(), delivered: false, known: true });
					plan.defer(call.items, Math.max(1, Math.ceil((haltedUntil - Date.now()) / 1000)));
					return;
				}
				if (deadline - Date.now() <= timeoutMs) {
					// Too little of the lease is left to be sure the PATCH lands before the fields unlock: not sent.
					settle.calls.push({ ...entry, sent: false, answeredAt: Date.now(), delivered: false, known: true });
					for (const i of call.items) plan.resend(i, 0);
					return;
				}
				const values = Object.fromEntries(g.fields.map((f) => [f, call.values[f]]));
				const access = admitted.tokens[call.destinationId]!;
				const { res, outcome, sent } = await send(env, gate, call.destinationId, access.token, call.prospectId, values, deadline, timeoutMs);
				crashPoint("delivery.patched");
				plan.stats.calls++;
				const answered = Date.now();
				settle.calls.push({ ...entry, sent, answeredAt: answered, delivered: outcome.kind === "delivered", known: res.status !== 0 });
				if (res.rate.remaining !== undefined && res.rate.resetAt !== undefined && res.status !== 429 && answered >= newestAnswer) {
					newestAnswer = answered;
					settle.observed = { grantId: g.grantId, remaining: res.rate.remaining, resetAt: res.rate.resetAt };
				}
				if (outcome.kind === "rate_limited") {
					settle.pauseUntil = Math.max(settle.pauseUntil ?? 0, outcome.until);
					haltedUntil = Math.max(haltedUntil, outcome.until);
				}
				await apply(outcome, call, g.fields, plan, { gate, generation: access.generation, retryBase: cfg.RETRY_BASE_SECONDS });
			});
		}),
	);
	// Settled by the caller: with its next admission, or on its own.
	if (settle.calls.length || settle.pauseUntil || settle.observed) near.settle = settle;
	return near;
}

/** A lease too short for another request: the call is given back, unsent, to be granted again. */
type LeaseShort = { kind: "lease_short" };

/**
 * One PATCH, with the single refresh-and-retry a 401 earns — each request only while more than the timeout is
 * left of the grant's lease, and aborted at the lease's end (so no late PATCH lands after a newer one).
 */
async function send(
	env: Env,
	gate: DurableObjectStub<Gate>,
	destinationId: string,
	token: string,
	prospectId: number,
	values: Record<string, unknown>,
	deadline: number,
	timeoutMs: number,
): Promise<{ res: OutreachResponse; outcome: Outcome | LeaseShort; sent: boolean }> {
	const base = config(env).OUTREACH_API_BASE;
	const budget = () => Math.min(timeoutMs, deadline - Date.now());
	count("patchCalls");
	let res = await patchProspect(base, token, prospectId, values, budget());
	let outcome: Outcome | LeaseShort = classify(res);
	if (outcome.kind !== "refresh") return { res, outcome, sent: true };
	count("gateCalls");
	const fresh = await gate.accessToken(destinationId, token);
	if (!fresh.ok) {
		return {
			res,
			outcome:
				fresh.status === "reconnect_required"
					? { kind: "connection_lost", reason: fresh.reason }
					: { kind: "transient", reason: `Could not refresh the Outreach token: ${fresh.reason}` },
			sent: true,
		};
	}
	if (deadline - Date.now() <= timeoutMs) return { res, outcome: { kind: "lease_short" }, sent: true };
	count("patchCalls");
	res = await patchProspect(base, fresh.token, prospectId, values, budget());
	outcome = classify(res);
	if (outcome.kind === "refresh") outcome = { kind: "transient", reason: "Outreach refused a freshly refreshed token (401)" };
	return { res, outcome, sent: true };
}

/** Applies one call's outcome to the updates that supplied its fields. */
async function apply(
	outcome: Outcome | LeaseShort,
	call: Call,
	grantedFields: string[],
	plan: Plan,
	ctx: { gate: DurableObjectStub<Gate>; generation: number; retryBase: number },
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
		case "lease_short":
			for (const i of live) plan.resend(i, 0);
			return;
		case "failed":
			for (const i of live) {
				const fields = [...call.owners].filter(([f, o]) => o === i && granted.has(f)).map(([f]) => f);
				plan.report(i, { id: i.update.id, state: "failed", reason: outcome.reason, fields, attempts: (i.update.attempt ?? 0) + 1 });
			}
			return;
		case "field_invalid": {
			const owner = call.owners.get(outcome.field);
			if (!owner || !live.includes(owner)) {
				for (const i of live) plan.report(i, { id: i.update.id, state: "failed", reason: outcome.reason, attempts: (i.update.attempt ?? 0) + 1 });
				return;
			}
			// Resend once without the refused field; its owner remembers the field's failure.
			for (const i of live) {
				if (i !== owner) {
					plan.resend(i, 0);
					continue;
				}
				const { [outcome.field]: _refused, ...rest } = i.update.fields;
				const next: Update = { ...i.update, fields: rest, failedFields: { ...i.update.failedFields, [outcome.field]: outcome.reason } };
				if (Object.keys(rest).length === 0) plan.finish({ ...i, update: next });
				else plan.resend(i, 0, next);
			}
			return;
		}
		case "rate_limited":
			plan.defer(live, Math.max(1, Math.ceil((outcome.until - Date.now()) / 1000)));
			return;
		case "connection_lost":
			count("gateCalls");
			// Only the grant this token belongs to is marked: after a reconnect, the new one is left alone.
			await ctx.gate.markReconnectRequired(call.destinationId, outcome.reason, ctx.generation);
			log("warn", "token_lost", { destinationId: call.destinationId, reason: outcome.reason });
			plan.hold(live, "reconnect", ctx.generation);
			return;
		case "refresh":
		case "transient":
			for (const i of live) {
				const attempt = (i.update.attempt ?? 0) + 1;
				const reason = outcome.kind === "transient" ? outcome.reason : "Outreach answered 401";
				if (attempt >= MAX_ATTEMPTS) {
					plan.report(i, { id: i.update.id, state: "failed", reason: `Gave up after ${attempt} attempts: ${reason}`, fields: Object.keys(i.update.fields), attempts: attempt });
				} else {
					plan.report(i, { id: i.update.id, state: "pending", reason, attempts: attempt });
					plan.stats.retried++;
					const notBefore = outcome.kind === "transient" && outcome.retryAt ? Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((outcome.retryAt - Date.now()) / 1000))) : 0;
					plan.resend(i, Math.max(backoffSeconds(ctx.retryBase, attempt - 1), notBefore), { ...i.update, attempt });
				}
			}
			return;
	}
}
