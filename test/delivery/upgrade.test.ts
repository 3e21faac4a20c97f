import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { crashAt } from "../../src/platform/crashpoints";
import { destinationStore } from "../../src/destinations/records";
import { gateStub } from "../../src/gate/gate";
import { ledgerStub } from "../../src/ledger/ledger";
import { auditHooks } from "../helpers/audit";
import { adminJson, createConnectedDestination, REP, resetOutreach } from "../helpers/control";
import { activity, failures, ingestOk, prospectAttributes, putMapping, settled } from "../helpers/data";

/**
 * Upgrades lose nothing (design: "Upgrades lose nothing"). The state a deployment of the previous version
 * leaves behind is rebuilt here: the grant and a shared `field_versions` table in a gate named by the user's id
 * and email, ledger rows without a payload or a hand-over number, and queue messages in the old format
 * (`attempt` on the message, three-part versions) — queued, deferred, and re-sent while the destination was
 * paused. The new Worker delivers them under the new rules, fails none and loses none.
 */

auditHooks();

const LEGACY_GATE = `${REP.id}:${REP.email}`;
const withName = (prospectId: number, firstName: string) => ({ person: { name: { firstName } }, identityMap: { Oid: [{ id: String(prospectId) }] } });

beforeEach(async () => {
	await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
});

describe("an upgrade with work in flight", () => {
	it("delivers old-format messages through a gate named the old way, under the new rules, with nothing failed or lost", { timeout: 60_000 }, async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		// Four updates recorded but not yet handed over (as if in the queue of the old deployment).
		crashAt("outbox.send");
		await ingestOk(d.id, d.ingestToken, [withName(41, "Ana"), withName(42, "Bea"), withName(43, "Cid"), withName(44, "Dee")]);

		// The old deployment's state: ledger rows without payload or gen; the grant in a gate named by id and email;
		// its shared versions table; KV naming that gate; no record kept by the ledger itself.
		const rows = await runInDurableObject(ledgerStub(env, d.id), (_i, state) => {
			const all = state.storage.sql.exec<{ id: string; prospect_id: number; source: string }>(`SELECT id, prospect_id, source FROM updates ORDER BY prospect_id`).toArray();
			state.storage.sql.exec(`UPDATE updates SET payload = NULL, gen = 0, send_at = NULL`);
			state.storage.kv.delete("destination");
			state.storage.kv.delete("mapping");
			state.storage.kv.delete("grant.generation");
			return all;
		});
		const grant = await runInDurableObject(gateStub(env, String(REP.id)), (_i, state) => {
			const row = state.storage.sql.exec<Record<string, string | number | null>>(`SELECT * FROM grants WHERE destination_id = ?`, d.id).one();
			state.storage.sql.exec(`DELETE FROM grants WHERE destination_id = ?`, d.id);
			state.storage.sql.exec(`DELETE FROM versions`);
			return row;
		});
		const source = (i: number) => JSON.parse(rows[i]!.source) as { observedAt: number; seq: number };
		await runInDurableObject(gateStub(env, LEGACY_GATE), (_i, state) => {
			state.storage.sql.exec(
				`INSERT INTO grants (destination_id, gate, user_id, user_email, status, reason, sealed, generation, retry_at, failures, updated_at) VALUES (?, ?, ?, ?, 'connected', NULL, ?, 1, 0, 0, ?)`,
				d.id,
				LEGACY_GATE,
				REP.id,
				REP.email,
				grant.sealed,
				Date.now(),
			);
			state.storage.sql.exec(`CREATE TABLE field_versions (prospect_id INTEGER NOT NULL, field TEXT NOT NULL, q INTEGER NOT NULL, o INTEGER NOT NULL,
				s INTEGER NOT NULL, confirmed INTEGER NOT NULL DEFAULT 0, inflight_until INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (prospect_id, field))`);
			// Prospect 44 already had a newer firstName applied by the old deployment.
			state.storage.sql.exec(`INSERT INTO field_versions VALUES (44, 'firstName', 0, ?, 0, 1, 0)`, source(3).observedAt + 60_000);
		});
		const connection = JSON.parse((await env.CONFIG.get(`connection:${d.id}`))!) as Record<string, unknown>;
		await env.CONFIG.put(`connection:${d.id}`, JSON.stringify({ ...connection, gate: LEGACY_GATE, generation: undefined }));
		destinationStore(env).forget(d.id); // a new deployment starts with empty caches

		// Old-format messages: one queued, one deferred (a delay), one re-sent while paused, one already superseded.
		const old = (i: number, value: string) => ({
			destinationId: d.id,
			attempt: 0,
			updates: [{ id: rows[i]!.id, prospectId: rows[i]!.prospect_id, fields: { firstName: { value, v: [0, source(i).observedAt, source(i).seq] } } }],
		});
		await env.UPDATES.send(old(0, "Ana"));
		await env.UPDATES.send(old(1, "Bea"), { delaySeconds: 2 });
		await env.UPDATES.send(old(3, "Dee"));
		await vi.waitUntil(async () => (await activity(d.id)).totals.pending <= 2, { timeout: 15_000, interval: 200 });
		// Paused at the upgrade: the old deployment kept re-sending Cid's copy; the new one holds it in the ledger.
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		await env.UPDATES.send(old(2, "Cid"));
		await vi.waitUntil(async () => (await activity(d.id)).totals.held >= 1, { timeout: 15_000, interval: 200 });
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });

		await vi.waitUntil(async () => (await activity(d.id)).totals.pending === 0, { timeout: 30_000, interval: 250 });
		const a = await settled(d.id);
		expect(a.totals).toMatchObject({ received: 4, delivered: 3, superseded: 1, failed: 0, pending: 0 });
		expect(await failures(d.id)).toEqual([]);
		expect((await prospectAttributes(41)).firstName).toBe("Ana");
		expect((await prospectAttributes(42)).firstName).toBe("Bea");
		expect((await prospectAttributes(43)).firstName).toBe("Cid");
		expect((await prospectAttributes(44)).firstName, "the old gate's newer version was respected").toBeUndefined();

		// The grant now lives in the gate named by the user's id, and KV says so.
		expect(JSON.parse((await env.CONFIG.get(`connection:${d.id}`))!).gate).toBe(String(REP.id));
		expect((await adminJson<{ status: string }>(`/api/destinations/${d.id}`)).status).toBe("connected");
		// New work flows through the new gate.
		await ingestOk(d.id, d.ingestToken, withName(41, "Ann"));
		await settled(d.id);
		expect((await prospectAttributes(41)).firstName).toBe("Ann");
	});
});
