import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { gateStub } from "../../src/gate/gate";
import { ledgerStub } from "../../src/ledger/ledger";
import { createConnectedDestination, repGate, resetOutreach } from "../helpers/control";
import { failures, ingestOk, putMapping, settled } from "../helpers/data";

/**
 * RETENTION_DAYS is enforced on every table that holds profile values or names a prospect (issue 22): rows are
 * aged past it, and the objects' own alarms (not a test-only path) delete them.
 */

const DAY = 86_400_000;
const SEG = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const person = (id: number, firstName: string) => ({
	person: { name: { firstName } },
	segmentMembership: { ups: { [SEG]: { status: "realized", lastQualificationTime: "2026-11-20T10:00:00Z" } } },
	identityMap: { Oid: [{ id: String(id) }] },
});

beforeEach(async () => {
	await resetOutreach({ prospects: [5101, 5102], fieldRules: { custom4: { type: "inclusion", definition: ["Active", "Expired"] } } });
});

describe("RETENTION_DAYS", () => {
	it("deletes aged updates (values and source data), recent errors, versions and last writes", async () => {
		const d = await createConnectedDestination({ name: "Retention" });
		// "realized" is not in custom4's picklist: one failure (with its error row) besides the delivered firstName.
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }], segments: [{ segmentId: SEG, mappingId: 4 }] });
		await ingestOk(d.id, d.ingestToken, [person(5101, "Old Olga"), person(5102, "Old Oscar")]);
		await vi.waitUntil(async () => (await failures(d.id)).length === 2, { timeout: 30_000, interval: 250 });
		await settled(d.id);
		const retention = Number(env.RETENTION_DAYS);

		const ledger = ledgerStub(env, d.id);
		await runInDurableObject(ledger, async (instance, state) => {
			const sql = state.storage.sql;
			const count = (table: string) => sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
			expect(count("updates")).toBe(2);
			expect(count("errors")).toBeGreaterThan(0);
			// One day inside the period: kept. (A row ages whole: it was received before it last changed.)
			sql.exec(`UPDATE updates SET received_at = received_at - ?, updated_at = updated_at - ?`, (retention - 1) * DAY, (retention - 1) * DAY);
			sql.exec(`UPDATE errors SET at = at - ?`, (retention - 1) * DAY);
			state.storage.kv.put("maintenance.prunedAt", 0);
			await instance.alarm();
			expect(count("updates")).toBe(2);
			// Past it: gone, by the alarm's daily maintenance, a page at a time (a page of one here).
			sql.exec(`UPDATE updates SET received_at = received_at - ?, updated_at = updated_at - ?`, 2 * DAY, 2 * DAY);
			sql.exec(`UPDATE errors SET at = at - ?`, 2 * DAY);
			expect(instance.prune(Date.now(), 1)).toEqual({ deleted: 1, more: true });
			expect(count("updates")).toBe(1);
			state.storage.kv.put("maintenance.prunedAt", 0);
			await instance.alarm();
			expect(count("updates")).toBe(0);
			expect(count("errors")).toBe(0);
			expect(JSON.stringify(sql.exec(`SELECT * FROM requests`).toArray())).not.toMatch(/Old Olga|Old Oscar/);
		});

		const gate = gateStub(env, repGate());
		await runInDurableObject(gate, async (instance, state) => {
			const sql = state.storage.sql;
			const count = (table: string) => sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE prospect_id IN (5101, 5102)`).one().n;
			expect(count("versions")).toBeGreaterThan(0);
			// Versions outlive the failures that could be replayed against them by a day.
			sql.exec(`UPDATE versions SET touched_at = touched_at - ? WHERE prospect_id IN (5101, 5102)`, (retention + 2) * DAY);
			sql.exec(`UPDATE last_writes SET touched_at = touched_at - ? WHERE prospect_id IN (5101, 5102)`, (retention + 2) * DAY);
			state.storage.kv.put("versions.prunedAt", 0);
			await instance.alarm();
			expect(count("versions")).toBe(0);
			expect(count("last_writes")).toBe(0);
			// Values waiting to go in bulk live only until their write is decided and reported.
			expect(count("bulk_items")).toBe(0);
		});
	});
});
