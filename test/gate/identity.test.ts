import { abortAllDurableObjects, env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { gateStub } from "../../src/gate/gate";
import { ledgerStub } from "../../src/ledger/ledger";
import { auditHooks } from "../helpers/audit";
import { adminJson, connectDestination, createConnectedDestination, REP, resetOutreach } from "../helpers/control";
import { activity, ingestOk, prospectAttributes, putMapping, settled } from "../helpers/data";

/**
 * The gate is the Outreach user's, named by the user's id: an email change is the same gate (the same budget,
 * the same versions), and a destination reconnected as another user takes its versions to that user's gate,
 * so a circulating older copy (a retry, a replay) never overwrites newer data.
 */

auditHooks();

const OTHER = { id: 2, email: "other@example.com", password: "outreach2" };
const NAME = { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] };
const withName = (prospectId: number, firstName: string) => ({ person: { name: { firstName } }, identityMap: { Oid: [{ id: String(prospectId) }] } });

beforeEach(async () => {
	await resetOutreach({ users: [REP, OTHER], rateLimit: { limit: 100, windowSeconds: 5 } });
});

/**
 * Delivers "Old" then "New" to the prospect and answers a copy of the Old update as it travelled the queue
 * (its ledger row, read while it was held): a copy that could still be circulating, e.g. a queue retry.
 */
async function oldCopyAfterNewer(d: { id: string; ingestToken: string }, prospectId: number) {
	await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
	await ingestOk(d.id, d.ingestToken, withName(prospectId, "Old"));
	const row = await runInDurableObject(ledgerStub(env, d.id), async (_i, state) => {
		for (let i = 0; i < 100; i++) {
			const held = state.storage.sql.exec<{ id: string; source: string }>(`SELECT id, source FROM updates WHERE state = 'pending'`).toArray()[0];
			if (held) return held;
			await new Promise((r) => setTimeout(r, 50));
		}
		throw new Error("no pending update");
	});
	await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });
	await settled(d.id);
	await ingestOk(d.id, d.ingestToken, withName(prospectId, "New"));
	await settled(d.id);
	expect((await prospectAttributes(prospectId)).firstName).toBe("New");
	const source = JSON.parse(row.source) as { observedAt: number; seq: number };
	// The message format of a queue copy (a three-part version reads the same before and after revisions).
	return { destinationId: d.id, attempt: 1, updates: [{ id: row.id, prospectId, fields: { firstName: { value: "Old", v: [0, source.observedAt, source.seq] } } }] };
}

describe("the gate of an Outreach user", () => {
	it("is named by the user's id: after an email change and a reconnect, the same gate keeps the budget and the versions", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, NAME);
		const oldCopy = await oldCopyAfterNewer(d, 21);
		const usedBefore = (await activity(d.id)).budget.usedInWindow;
		expect(usedBefore).toBeGreaterThan(0);

		const changed = await fetch(`${env.OUTREACH_API_BASE}/__fake/users/1`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email: "rep.renamed@example.com" }) });
		expect(changed.status).toBe(200);
		const reconnected = await connectDestination(d.id, { email: "rep.renamed@example.com" });
		expect(reconnected.outreachUser).toEqual({ id: 1, email: "rep.renamed@example.com" });
		const connection = JSON.parse((await env.CONFIG.get(`connection:${d.id}`))!) as { gate: string };
		expect(connection.gate, "one gate per user id").toBe("1");
		expect((await activity(d.id)).budget.usedInWindow, "the same budget").toBeGreaterThanOrEqual(usedBefore);

		await env.UPDATES.send(oldCopy);
		await new Promise((r) => setTimeout(r, 2_000));
		await settled(d.id);
		expect((await prospectAttributes(21)).firstName).toBe("New");
	});

	it("keeps the versions across a restart of the gate", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, NAME);
		const oldCopy = await oldCopyAfterNewer(d, 22);
		await abortAllDurableObjects();
		await env.UPDATES.send(oldCopy);
		await new Promise((r) => setTimeout(r, 2_000));
		await settled(d.id);
		expect((await prospectAttributes(22)).firstName).toBe("New");
	});
});

describe("a destination reconnected as another Outreach user", () => {
	it("takes its versions to the new user's gate: an older copy is superseded there, a newer update lands", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, NAME);
		const oldCopy = await oldCopyAfterNewer(d, 23);

		const moved = await connectDestination(d.id, { email: OTHER.email, password: OTHER.password });
		expect(moved.outreachUser).toEqual({ id: OTHER.id, email: OTHER.email });
		await env.UPDATES.send(oldCopy);
		await new Promise((r) => setTimeout(r, 2_000));
		await settled(d.id);
		expect((await prospectAttributes(23)).firstName, "the older copy did not overwrite the newer value").toBe("New");

		await ingestOk(d.id, d.ingestToken, withName(23, "Newest"));
		await settled(d.id);
		expect((await prospectAttributes(23)).firstName).toBe("Newest");

		// The former user's gate refuses the destination's calls from now on.
		const refused = await gateStub(env, String(REP.id)).admit({
			calls: [{ key: "k", destinationId: d.id, prospectId: 23, fields: { firstName: { v: [0, Date.now(), Date.now(), 0], u: "probe" } } }],
			destinations: { [d.id]: { revisions: {} } },
		});
		expect(refused.held[d.id]).toMatchObject({ status: "moved", to: String(OTHER.id) });
		expect(refused.granted).toEqual([]);
	});
});
