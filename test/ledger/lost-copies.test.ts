import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { copyOverdueSeconds } from "../../src/delivery/message";
import { ledgerStub } from "../../src/ledger/ledger";
import { config } from "../../src/platform/config";
import { crashAt } from "../../src/platform/crashpoints";
import { activity } from "../helpers/data";
import { resetOutreach } from "../helpers/control";
import { destinationWithLoad, expectWhole, handOffHooks, post } from "../helpers/hand-offs";
import { bulkDestination, burst, expectNothingCreated, LIMIT, prospects, stats } from "../helpers/imports";
import { gateName, gateStub } from "../../src/gate/gate";
import { destinationStore } from "../../src/destinations/records";

/**
 * Nothing lost (design: "Holding and handing off"), when the queue itself loses a message: a copy handed to the
 * queue and never heard of again. The ledger keeps, for every copy out, when it went; once the copy is overdue —
 * older than every retry the queue allows, and not held at the gate — the alarm hands the update over again.
 * The fault: the consumer acknowledges a message unread (src/platform/crashpoints.ts, `queue.lost`). Time is
 * moved on by making the copies due in the ledger's storage, as the clock would after the overdue period.
 */

handOffHooks();

type Out = { id: string; gen: number; send_at: number; out_at: number };

async function copiesOut(destinationId: string): Promise<Out[]> {
	return runInDurableObject(ledgerStub(env, destinationId), (_i, state) =>
		state.storage.sql.exec<Out>(`SELECT id, gen, send_at, out_at FROM updates WHERE state = 'pending' AND hold IS NULL AND out_at IS NOT NULL`).toArray(),
	);
}

/** Waits until exactly `n` updates are pending, and says how many were when it gives up. */
async function waitForPending(destinationId: string, n: number): Promise<void> {
	let pending = -1;
	await vi
		.waitUntil(async () => (pending = (await activity(destinationId)).totals.pending) === n, { timeout: 90_000, interval: 250 })
		.catch(() => expect(pending, `updates pending after 90 s (the lost message's ${n} expected)`).toBe(n));
}

describe("a message the queue loses", () => {
	it("leaves its updates pending until their copy is overdue, then they are handed over again and land, with no older value written", { timeout: 120_000 }, async () => {
		const { d, load } = await destinationWithLoad();
		crashAt("queue.lost", 1, d.id);
		await post(d, load);
		// Everything else lands; the lost message's 10 updates stay pending, their copy out.
		await waitForPending(d.id, 10);
		const lost = await copiesOut(d.id);
		expect(lost).toHaveLength(10);
		// Not before the queue could have given up on the copy: due an overdue period after it went out.
		const overdueMs = copyOverdueSeconds(config(env).RETRY_BASE_SECONDS) * 1000;
		for (const r of lost) expect(r.send_at - r.out_at).toBeGreaterThanOrEqual(overdueMs);
		await runDurableObjectAlarm(ledgerStub(env, d.id));
		expect((await activity(d.id)).totals.pending, "pending before the copies are overdue").toBe(10);

		// The overdue period passes.
		await runInDurableObject(ledgerStub(env, d.id), (_i, state) => {
			state.storage.sql.exec(`UPDATE updates SET send_at = ? WHERE state = 'pending' AND out_at IS NOT NULL`, Date.now() - 1);
		});
		await runDurableObjectAlarm(ledgerStub(env, d.id));
		await expectWhole(d, load, { repeats: 0 });
		const after = await runInDurableObject(ledgerStub(env, d.id), (_i, state) =>
			state.storage.sql
				.exec<{ id: string; gen: number }>(`SELECT id, gen FROM updates WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(lost.map((r) => r.id)))
				.toArray(),
		);
		// Handed over as a new copy: the lost one, should it turn up, is no longer the current one.
		for (const r of after) expect(r.gen).toBeGreaterThan(lost.find((l) => l.id === r.id)!.gen);
	});

	it("is not taken for one the gate holds in bulk: a slow import outlasting the overdue period keeps its copies, and they land once", { timeout: 120_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 }, imports: { recordsPerSecond: 40 }, prospects: prospects(50_000, 400) });
		const d = await bulkDestination("Overdue at the gate");
		await burst(d, 50_000, 400);
		await vi.waitUntil(async () => (await stats()).imports.requests > 0, { timeout: 20_000, interval: 100 });
		const connection = await destinationStore(env).getConnection(d.id);
		const out = await copiesOut(d.id);
		const held = new Set(await gateStub(env, gateName(connection!.user)).holding(d.id, out.map((r) => r.id)));
		expect(held.size, "copies the gate holds while its imports run").toBeGreaterThan(0);
		// Their overdue period passes while the imports still run.
		await runInDurableObject(ledgerStub(env, d.id), (_i, state) => {
			state.storage.sql.exec(`UPDATE updates SET send_at = ? WHERE id IN (SELECT value FROM json_each(?))`, Date.now() - 1, JSON.stringify([...held]));
		});
		const asked = Date.now();
		await runDurableObjectAlarm(ledgerStub(env, d.id));
		const overdueMs = copyOverdueSeconds(config(env).RETRY_BASE_SECONDS) * 1000;
		const after = new Map((await copiesOut(d.id)).map((r) => [r.id, r]));
		for (const r of out.filter((o) => held.has(o.id))) {
			const now = after.get(r.id);
			if (!now) continue; // delivered meanwhile
			expect(now.gen, "the copy at the gate stays the current one").toBe(r.gen);
			expect(now.send_at, "looked at again an overdue period later").toBeGreaterThanOrEqual(asked + overdueMs);
		}
		const a = await vi.waitUntil(async () => {
			const a = await activity(d.id);
			return a.totals.pending === 0 ? a : undefined;
		}, { timeout: 90_000, interval: 250 });
		expect(a.totals).toMatchObject({ received: 400, delivered: 400, failed: 0 });
		// Once: each record imported a single time, none sent again as a lost copy.
		expect((await stats()).imports.records).toBe(400);
		await expectNothingCreated();
	});

	it("is caught after an upgrade too: copies already out when the ledger learnt to watch them are watched from the upgrade on", { timeout: 120_000 }, async () => {
		const { d, load } = await destinationWithLoad();
		crashAt("queue.lost", 1, d.id);
		await post(d, load);
		await waitForPending(d.id, 10);
		// The ledger as the previous version left it: no out_at, a copy out shown only by send_at NULL. Its next
		// start (a new instance on the same storage) adds the column.
		const watched = await runInDurableObject(ledgerStub(env, d.id), (instance, state) => {
			state.storage.sql.exec(`UPDATE updates SET out_at = NULL, send_at = NULL WHERE state = 'pending'`);
			state.storage.sql.exec(`ALTER TABLE updates DROP COLUMN out_at`);
			const started = Date.now();
			new (instance.constructor as new (s: DurableObjectState, e: Env) => unknown)(state, env);
			return { started, rows: state.storage.sql.exec<Out>(`SELECT id, gen, send_at, out_at FROM updates WHERE state = 'pending'`).toArray() };
		});
		expect(watched.rows).toHaveLength(10);
		const overdueMs = copyOverdueSeconds(config(env).RETRY_BASE_SECONDS) * 1000;
		for (const r of watched.rows) {
			expect(r.out_at).toBeGreaterThanOrEqual(watched.started);
			expect(r.send_at - r.out_at).toBe(overdueMs);
		}
		await runInDurableObject(ledgerStub(env, d.id), (_i, state) => {
			state.storage.sql.exec(`UPDATE updates SET send_at = ? WHERE state = 'pending' AND out_at IS NOT NULL`, Date.now() - 1);
		});
		await runDurableObjectAlarm(ledgerStub(env, d.id));
		await expectWhole(d, load, { repeats: 0 });
	});
});
