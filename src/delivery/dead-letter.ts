import { destinationStore } from "../destinations/records";
import { gateName, gateStub } from "../gate/gate";
import { ledgerStub } from "../ledger/ledger";
import { log } from "../platform/log";
import type { Update } from "../updates/update";
import { Salvage, UpdateMessage } from "./message";


/**
 * The dead-letter queue's consumer: messages whose batches kept crashing. Only updates whose outcome is
 * unknown are listed as failed (replayable): the gate is asked first which versions Outreach already accepted
 * (those are delivered), and the ledger ignores copies that are no longer current.
 */
export async function recordDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
	const byDestination = new Map<string, Update[]>();
	for (const msg of batch.messages) {
		const parsed = UpdateMessage.safeParse(msg.body);
		if (!parsed.success) {
			const salvaged = Salvage.safeParse(msg.body);
			log("error", "dead_letter_invalid", { messageId: msg.id });
			if (salvaged.success)
				(byDestination.get(salvaged.data.destinationId) ?? byDestination.set(salvaged.data.destinationId, []).get(salvaged.data.destinationId)!).push(
					...salvaged.data.updates.map((u) => ({ id: u.id, prospectId: 1, fields: {}, ...(u.gen === undefined ? {} : { gen: u.gen }) })),
				);
			continue;
		}
		const list = byDestination.get(parsed.data.destinationId) ?? byDestination.set(parsed.data.destinationId, []).get(parsed.data.destinationId)!;
		list.push(...parsed.data.updates);
	}
	const store = destinationStore(env);
	await Promise.all(
		[...byDestination].map(async ([destinationId, updates]) => {
			let delivered: string[] = [];
			const connection = await store.getConnection(destinationId).catch(() => null);
			if (connection) {
				delivered = await gateStub(env, gateName(connection.user))
					.confirmed(
						updates.map((u) => ({
							key: u.id,
							destinationId,
							prospectId: u.prospectId,
							fields: Object.fromEntries(Object.entries(u.fields).map(([f, fu]) => [f, { v: fu.v, u: u.id }])),
						})),
					)
					.catch(() => []);
			}
			const failed = await ledgerStub(env, destinationId).failUnknown(
				destinationId,
				updates.map((u) => ({ id: u.id, ...(u.gen === undefined ? {} : { gen: u.gen }) })),
				delivered.filter((id) => updates.some((u) => u.id === id && Object.keys(u.fields).length > 0)),
				"Delivery kept crashing on this update's batch and the queue's retries ran out. Check `wrangler tail`, then replay it.",
			);
			log("warn", "failure_recorded", { destinationId, updates: failed, source: "dead_letter_queue" });
		}),
	);
	batch.ackAll();
}
