import { z } from "zod";
import { count } from "./metrics";
import { Update } from "./updates";

/**
 * The queue `prospect-updates` between ingest and delivery: the message format, and `enqueue`, which packs
 * updates into as few messages and `sendBatch` calls as the queue's limits allow. Ingest, replay and the
 * consumer's re-sends all go through here.
 */

export const UpdateMessage = z.object({
	destinationId: z.string(),
	/** Delivery attempts already spent on these updates (transient failures only). */
	attempt: z.number().int().min(0),
	updates: z.array(Update).min(1),
});
export type UpdateMessage = z.infer<typeof UpdateMessage>;

/** Queue limits (128 KB a message, 256 KB and 100 messages a sendBatch), with room for the envelope. */
export const MESSAGE_BYTES = 120_000;
const SEND_BATCH_BYTES = 240_000;
const SEND_BATCH_MESSAGES = 100;

const encoder = new TextEncoder();

export function updateBytes(u: Update): number {
	return encoder.encode(JSON.stringify(u)).byteLength + 1;
}

export type Outgoing = { destinationId: string; attempt: number; delaySeconds: number; updates: Update[] };

/**
 * Sends updates to the queue packed into as few messages as the 128 KB limit allows, in as few `sendBatch`
 * calls as its limits allow (one for a normal ingest request). Returns the number of messages.
 */
export async function enqueue(env: Env, groups: Outgoing[]): Promise<number> {
	const messages: { body: UpdateMessage; delaySeconds: number; bytes: number }[] = [];
	for (const g of groups) {
		let current: Update[] = [];
		let bytes = 0;
		const flush = () => {
			if (current.length === 0) return;
			messages.push({ body: { destinationId: g.destinationId, attempt: g.attempt, updates: current }, delaySeconds: g.delaySeconds, bytes: bytes + 200 });
			current = [];
			bytes = 0;
		};
		for (const u of g.updates) {
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
			chunk.map((m) => ({ body: m.body, contentType: "json" as const, ...(m.delaySeconds > 0 ? { delaySeconds: m.delaySeconds } : {}) })),
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

