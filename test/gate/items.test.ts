import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BulkItems } from "../../src/gate/items";
import type { TokenCustody } from "../../src/gate/tokens";
import type { Update } from "../../src/updates/update";

/**
 * The gate's bulk rows (src/gate/items.ts) across a restart and a pause, on a real gate's SQLite storage: a
 * write is never left in a state nothing moves it out of.
 */

const update = (id: string, prospectId: number): Update => ({ id, prospectId, fields: { firstName: { value: `F-${prospectId}`, v: [1, 10, 10, 0] } } });

async function withItems<T>(fn: (items: () => BulkItems, sql: SqlStorage) => T): Promise<T> {
	const stub = env.GATE.getByName(`items-test-${crypto.randomUUID()}`);
	return runInDurableObject(stub, (instance, state) => {
		const tokens = (instance as unknown as { tokens: TokenCustody }).tokens;
		return fn(() => new BulkItems(state.storage, env, tokens), state.storage.sql);
	});
}

describe("bulk rows", () => {
	it("a write cut off between its grant and Outreach's answer by a restart waits again instead of staying 'sending' forever", async () => {
		await withItems((items, sql) => {
			const before = items();
			before.take("d1", "import", [update("u1", 501), update("u2", 502)], Date.now());
			const rows = before.waiting("import", 10);
			before.sending(rows.slice(0, 1), 7);
			expect(sql.exec(`SELECT state FROM bulk_items ORDER BY id`).toArray().map((r) => r.state)).toEqual(["sending", "waiting"]);
			items(); // the gate's next instance
			expect(sql.exec(`SELECT state, grant_id FROM bulk_items ORDER BY id`).toArray()).toEqual([
				{ state: "waiting", grant_id: null },
				{ state: "waiting", grant_id: null },
			]);
		});
	});

	it("a paused destination's writes that come back to wait are given back to be held, not left waiting", async () => {
		await withItems((items, sql) => {
			const it = items();
			it.take("d1", "import", [update("u1", 601)], Date.now());
			it.take("d2", "import", [update("u2", 602)], Date.now());
			expect(it.pause("d1")).toBe(1);
			// A half of an import re-sent while finding failed records comes back to wait after the pause.
			it.backToWaiting(sql.exec<Parameters<BulkItems["backToWaiting"]>[0][number]>(`SELECT * FROM bulk_items WHERE destination_id = 'd1'`).toArray(), "9a");
			expect(it.waiting("import", 10).map((r) => r.destination_id)).toEqual(["d2"]);
			expect(sql.exec(`SELECT state, outcome, reason FROM bulk_items WHERE destination_id = 'd1'`).toArray()).toEqual([{ state: "decided", outcome: "hold", reason: "paused" }]);
		});
	});
});
