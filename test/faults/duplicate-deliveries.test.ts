import { createExecutionContext, createMessageBatch, env, getQueueResult, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BENCH_MAPPING } from "../../scripts/bench/profiles";
import type { UpdateMessageInput as UpdateMessage } from "../../src/delivery/message";
import worker from "../../src/index";
import { ledgerStub } from "../../src/ledger/ledger";
import { Mapping } from "../../src/destinations/mapping";
import { fieldsFrom, SourceData, type Update } from "../../src/updates/update";
import { adminJson } from "../helpers/control";
import { activity } from "../helpers/data";
import {
	faultRunHooks,
	expectInvariants,
	faultDestination,
	LIMIT,
	post,
	random,
	range,
	scale,
	scenarioLoad,
	settleTimeout,
	WINDOW_MS,
} from "./harness";

/**
 * Queues deliver at least once and in no particular order. Here the consumer gets the same messages twice, in
 * reverse order, in two batches at once (two consumers), and again later — built from the ledger's receipts
 * of real ingest requests — while the real queue delivers its own copies too.
 */

faultRunHooks();

/** The queue messages the ingest requests sent, rebuilt from the ledger's receipts (one message per request). */
async function messagesFromReceipts(destinationId: string): Promise<UpdateMessage[]> {
	const rows = await runInDurableObject(ledgerStub(env, destinationId), (_ledger, state) =>
		state.storage.sql.exec<{ id: string; request_id: string; source: string }>(`SELECT id, request_id, source FROM updates ORDER BY rowid`).toArray(),
	);
	const mapping = Mapping.parse(BENCH_MAPPING);
	const byRequest = new Map<string, Update[]>();
	for (const row of rows) {
		const source = SourceData.parse(JSON.parse(row.source));
		const { fields } = fieldsFrom(source, mapping);
		const list = byRequest.get(row.request_id) ?? byRequest.set(row.request_id, []).get(row.request_id)!;
		list.push({ id: row.id, prospectId: source.prospectId, fields });
	}
	return [...byRequest.values()].map((updates) => ({ destinationId, attempt: 0, updates }));
}

function shuffled<T>(items: T[], rand: () => number): T[] {
	const out = [...items];
	for (let i = out.length - 1; i > 0; i--) {
		const j = Math.floor(rand() * (i + 1));
		[out[i], out[j]] = [out[j]!, out[i]!];
	}
	return out;
}

/** Hands `bodies` to the Worker's queue() handler as one batch, as the queue would; answers how it ended. */
async function deliverBatch(bodies: UpdateMessage[], tag: string) {
	const batch = createMessageBatch(
		"prospect-updates",
		bodies.map((body, i) => ({ id: `${tag}-${i}`, timestamp: new Date(), attempts: 1, body })),
	);
	const ctx = createExecutionContext();
	await worker.queue(batch, env, ctx);
	return getQueueResult(batch, ctx);
}

describe("duplicate and reordered queue deliveries", () => {
	it("counts each update once and ends every prospect at its latest qualification", { timeout: settleTimeout() + 60_000 }, async () => {
		const d = await faultDestination();
		const load = scenarioLoad(7, 60 * scale(), 20 * scale(), 8001);
		const rand = random(7);
		// Paused: the real queue holds these updates while we take their messages from the ledger's receipts.
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		await post(d, load, range(0, load.profiles.length));
		const messages = await messagesFromReceipts(d.id);
		expect(messages.flatMap((m) => m.updates)).toHaveLength(load.profiles.length);
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });

		// Two consumers at once: every message reversed (its updates too), and the same messages shuffled.
		const reversed = [...messages].reverse().map((m) => ({ ...m, updates: [...m.updates].reverse() }));
		const [first, second] = await Promise.all([deliverBatch(reversed, "reversed"), deliverBatch(shuffled(messages, rand), "shuffled")]);
		for (const result of [first, second]) expect(result.ackAll || result.explicitAcks.length === messages.length).toBe(true);
		// A late duplicate of a random half, after those batches were recorded.
		const late = await deliverBatch(
			messages.filter(() => rand() < 0.5),
			"late",
		);
		expect(late.retryBatch.retry).toBe(false);

		const a = await expectInvariants(d, load);
		expect(a.totals.failed).toBe(0);
		expect(a.totals.delivered + a.totals.superseded).toBe(load.profiles.length);
		// Duplicates never add to the counts, even after the real queue's held copies come back.
		await new Promise((r) => setTimeout(r, 12_000));
		const after = await activity(d.id);
		expect(after.totals).toEqual(a.totals);
	});
});
