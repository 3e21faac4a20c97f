import { z } from "zod";
import { count } from "../platform/metrics";
import { Update } from "../updates/update";

/**
 * The queue `prospect-updates` between the ledger (its outbox) and delivery: the message format, and
 * `enqueue`, which packs updates into as few messages and `sendBatch` calls as the queue's limits allow.
 */

/**
 * One message: updates of one destination, each with its own attempt count and hand-over number. Messages
 * queued before this format (`attempt` on the message, no `gen`) are read as the same thing.
 */
export const UpdateMessage = z.union([
	z.object({ v: z.literal(2), destinationId: z.string(), updates: z.array(Update).min(1) }),
	z
		.object({ destinationId: z.string(), attempt: z.number().int().min(0), updates: z.array(Update).min(1) })
		.transform((m) => ({ v: 2 as const, destinationId: m.destinationId, updates: m.updates.map((u) => ({ ...u, attempt: u.attempt ?? m.attempt })) })),
]);
export type UpdateMessage = z.output<typeof UpdateMessage>;
/** A message as it may sit in the queue: today's format or the one before it. */
export type UpdateMessageInput = z.input<typeof UpdateMessage>;

/** Queue limits (128 KB a message, 256 KB and 100 messages a sendBatch, 12 h of delay), with room for the envelope. */
export const MESSAGE_BYTES = 120_000;
const SEND_BATCH_BYTES = 240_000;
const SEND_BATCH_MESSAGES = 100;
export const MAX_DELAY_SECONDS = 43_200;

/**
 * The consumer's `max_retries` and `retry_delay` in wrangler.toml (test/delivery/queue-config.test.ts holds
 * them equal): a message whose batch keeps failing is retried this often, then goes to the dead-letter queue.
 */
export const QUEUE_MAX_RETRIES = 10;
export const QUEUE_RETRY_DELAY_SECONDS = 30;
/** A failed message's backoff doubles this many times, then stays. */
export const QUEUE_BACKOFF_STEPS = 7;

/** Exponential backoff with jitter for the `attempt`-th retry. */
export function backoffSeconds(baseSeconds: number, attempt: number, random = Math.random()): number {
	const exp = baseSeconds * 2 ** attempt;
	return Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.round(exp * (0.75 + random * 0.5))));
}

/**
 * The longest a copy handed to the queue can take to be heard of, after its delay: every retry the queue allows
 * a message whose batch keeps failing, each at its longest backoff (or the queue's own delay, when the whole
 * batch crashed), and then the dead-letter queue's first try. A copy not heard of by then was lost on the way
 * (its message dropped): the ledger hands the update over again (src/ledger/outbox.ts).
 */
export function copyOverdueSeconds(retryBaseSeconds: number): number {
	let seconds = 0;
	for (let retry = 0; retry < QUEUE_MAX_RETRIES; retry++)
		seconds += Math.max(QUEUE_RETRY_DELAY_SECONDS, backoffSeconds(retryBaseSeconds, Math.min(retry, QUEUE_BACKOFF_STEPS), 1));
	return seconds + 5 * 60;
}

const encoder = new TextEncoder();

export function updateBytes(u: Update): number {
	return encoder.encode(JSON.stringify(u)).byteLength + 1;
}

/** An update to hand to the queue, and how long the queue should keep it before delivering it. */
export type Outgoing = { update: Update; delaySeconds: number };

/**
 * Sends a destination's updates to the queue packed into as few messages as the 128 KB limit allows (one per
 * delay), in as few `sendBatch` calls as its limits allow. Returns the number of messages.
 */
export async function enqueue(env: Env, destinationId: string, items: Outgoing[]): Promise<number> {
	const byDelay = new Map<number, Update[]>();
	for (const i of items) (byDelay.get(i.delaySeconds) ?? byDelay.set(i.delaySeconds, []).get(i.delaySeconds)!).push(i.update);
	const messages: { body: UpdateMessage; delaySeconds: number; bytes: number }[] = [];
	for (const [delaySeconds, updates] of byDelay) {
		let current: Update[] = [];
		let bytes = 0;
		const flush = () => {
			if (current.length === 0) return;
			messages.push({ body: { v: 2, destinationId, updates: current }, delaySeconds, bytes: bytes + 200 });
			current = [];
			bytes = 0;
		};
		for (const u of updates) {
			const size = updateBytes(u);
			if (bytes + size > MESSAGE_BYTES) flush();
			current.push(u);
			bytes += size;
		}
		flush();
	}
	let chunk: typeof messages = [];
	let chunkBytes = 0;
	const send = async () => {
		if (chunk.length === 0) return;
		count("queueSendCalls");
		count("queueMessagesSent", chunk.length);
		await env.UPDATES.sendBatch(
			chunk.map((m) => ({ body: m.body, contentType: "json" as const, ...(m.delaySeconds > 0 ? { delaySeconds: Math.min(MAX_DELAY_SECONDS, m.delaySeconds) } : {}) })),
		);
		chunk = [];
		chunkBytes = 0;
	};
	for (const m of messages) {
		if (chunk.length === SEND_BATCH_MESSAGES || chunkBytes + m.bytes > SEND_BATCH_BYTES) await send();
		chunk.push(m);
		chunkBytes += m.bytes;
	}
	await send();
	return messages.length;
}

/** The ids an unreadable message still names, so its updates can be listed as failed instead of vanishing. */
export const Salvage = z.looseObject({ destinationId: z.string(), updates: z.array(z.looseObject({ id: z.string(), gen: z.number().optional() })) });
