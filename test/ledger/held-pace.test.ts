import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { gateStub } from "../../src/gate/gate";
import { ledgerStub } from "../../src/ledger/ledger";
import { auditHooks } from "../helpers/audit";
import { adminJson, connectDestination, createConnectedDestination, createDestination, outreachStats, repGate, resetOutreach, type CreatedDestination } from "../helpers/control";
import { activity, ingestOk, maxInAnyWindow, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";

/**
 * Held work is released at the pace of the path and of the budget that is free (src/ledger/release.ts), not at
 * a fixed trickle: a held backlog the free budget covers is handed to the queue at once, as a fresh burst is; a
 * larger one goes a window's budget at a time; a bulk destination's all at once. The test window is 100 calls
 * per 5 s, so "the window's budget free" is scaled with it: the 200 held of 10,000 free calls is 90 of
 * 100 here. Asserted on what the ledger scheduled at the resume, not on elapsed time, then on ground truth:
 * everything delivered, no 429, never more than the budget in any window, and the write audit.
 */

auditHooks();

const LIMIT = 100;
const WINDOW_MS = 5_000;
/** How long the outbox claims a row while handing it over (the ledger's lease with the tests' 1 s retry base). */
const CLAIM_MS = 2_000;

beforeEach(async () => {
	await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: WINDOW_MS / 1000 } });
});

const FIRST_NAME = { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] };
const person = (id: number, name: string) => ({ person: { name: { firstName: name } }, identityMap: { Oid: [{ id: String(id) }] } });

async function post(d: CreatedDestination, profiles: unknown[]): Promise<void> {
	for (let i = 0; i < profiles.length; i += 10) await ingestOk(d.id, d.ingestToken, profiles.slice(i, i + 10));
}

const setEnabled = (d: CreatedDestination, enabled: boolean) => adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled } });

/** Pauses `d` and ingests `profiles`; answers once every one of them is held in its ledger. */
async function holdWhilePaused(d: CreatedDestination, profiles: unknown[]): Promise<void> {
	await setEnabled(d, false);
	await post(d, profiles);
	await vi.waitUntil(async () => (await activity(d.id)).totals.held === profiles.length, { timeout: 60_000, interval: 250 });
}

/** Waits until the seeded user's window is all free: nothing spent in it, no slot reserved, no 429's pause. */
async function budgetFree(): Promise<void> {
	const gate = gateStub(env, repGate());
	await vi.waitUntil(
		async () => {
			const s = await gate.budgetStatus();
			return s.usedInWindow === 0 && s.reserved === 0 && s.pausedUntil === null;
		},
		{ timeout: 30_000, interval: 250 },
	);
}

/**
 * The updates of `d` still waiting in its ledger to be handed to the queue (send_at set, no copy out: a copy out
 * has a send_at too, when it would be overdue), read inside it, with its clock.
 */
function waitingInLedger(d: CreatedDestination): Promise<{ now: number; sendAt: number[] }> {
	return runInDurableObject(ledgerStub(env, d.id), (_instance, state) => ({
		now: Date.now(),
		sendAt: state.storage.sql
			.exec<{ send_at: number }>(`SELECT send_at FROM updates WHERE state = 'pending' AND hold IS NULL AND send_at IS NOT NULL AND out_at IS NULL`)
			.toArray()
			.map((r) => r.send_at),
	}));
}

async function expectDelivered(d: CreatedDestination, n: number, first: number, name: (i: number) => string): Promise<void> {
	const a = await settled(d.id, 90_000);
	expect(a.totals).toMatchObject({ received: n, delivered: n, pending: 0, held: 0, failed: 0 });
	for (const i of [0, Math.floor(n / 2), n - 1]) expect((await prospectAttributes(first + i)).firstName).toBe(name(i));
}

async function expectWithinBudget(): Promise<void> {
	expect((await outreachStats()).status429, "429s at the local Outreach").toBe(0);
	expect(maxInAnyWindow(await outreachRequests(), WINDOW_MS), "calls in any window").toBeLessThanOrEqual(LIMIT);
}

describe("releasing held work", () => {
	it("hands a held backlog the free budget covers to the queue at once on resume, as a fresh burst is at ingest", { timeout: 180_000 }, async () => {
		const N = 90;
		const fresh = await createConnectedDestination({ name: "Fresh burst" });
		await putMapping(fresh.id, FIRST_NAME);
		await budgetFree();
		await post(fresh, Array.from({ length: N }, (_, i) => person(4000 + i, `Fresh ${i}`)));
		const afterIngest = await waitingInLedger(fresh);
		expect(afterIngest.sendAt.filter((t) => t > afterIngest.now), "fresh updates the ledger keeps for later").toEqual([]);
		await expectDelivered(fresh, N, 4000, (i) => `Fresh ${i}`);

		const held = await createConnectedDestination({ name: "Held burst" });
		await putMapping(held.id, FIRST_NAME);
		await holdWhilePaused(held, Array.from({ length: N }, (_, i) => person(4100 + i, `Held ${i}`)));
		await budgetFree();
		await setEnabled(held, true);
		// The old release spread these over the window (one every 12.5 ms here, one every 0.36 s in a real hour).
		const afterResume = await waitingInLedger(held);
		expect(afterResume.sendAt.filter((t) => t > afterResume.now), "held updates the ledger keeps for later after the resume").toEqual([]);
		await expectDelivered(held, N, 4100, (i) => `Held ${i}`);
		await expectWithinBudget();
	});

	it("releases a held backlog larger than the free budget partly now and the rest a window's budget at a time, within the budget", { timeout: 180_000 }, async () => {
		const N = 250;
		const d = await createConnectedDestination({ name: "Held back-fill" });
		await putMapping(d.id, FIRST_NAME);
		await holdWhilePaused(d, Array.from({ length: N }, (_, i) => person(4300 + i, `Back-fill ${i}`)));
		await budgetFree();
		const resumedAt = Date.now();
		await setEnabled(d, true);
		const { now, sendAt } = await waitingInLedger(d);
		// Rows claimed while being handed over, or deferred by the gate and on their way back, are due within a claim.
		const later = sendAt.filter((t) => t > now + CLAIM_MS);
		expect(N - later.length, "handed over at once: the free budget's share").toBeGreaterThan(0);
		expect(N - later.length, "handed over at once: the free budget's share").toBeLessThanOrEqual(LIMIT);
		expect(later.filter((t) => t < resumedAt + WINDOW_MS), "kept for later but due before the next window").toEqual([]);
		const perWindow = new Map<number, number>();
		for (const t of later) {
			const w = Math.floor((t - resumedAt) / WINDOW_MS);
			perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
		}
		expect(Math.max(...perWindow.values()), "released in one window").toBeLessThanOrEqual(LIMIT);
		expect(new Set(later).size, "moments the rest is released at: a window's budget at a time, not a trickle").toBeLessThanOrEqual(Math.ceil(later.length / LIMIT));
		await expectDelivered(d, N, 4300, (i) => `Back-fill ${i}`);
		await expectWithinBudget();
	});

	it("releases a bulk destination's held backlog all at once, for the gate to group", { timeout: 180_000 }, async () => {
		const N = 250;
		const S = "held-pace-seg-4000-8000-000000000001";
		const created = await createDestination({ name: "Held bulk" });
		await adminJson(`/api/destinations/${created.id}`, { method: "PATCH", json: { bulkApi: true } });
		await connectDestination(created.id);
		const d = { ...created, bulkApi: true };
		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: S, mappingId: 4 }] });
		const member = (id: number) => ({
			segmentMembership: { ups: { [S]: { status: "realized", lastQualificationTime: "2026-11-20T10:00:00Z" } } },
			identityMap: { Oid: [{ id: String(id) }] },
		});
		await holdWhilePaused(d, Array.from({ length: N }, (_, i) => member(4600 + i)));
		await budgetFree();
		await setEnabled(d, true);
		const afterResume = await waitingInLedger(d);
		expect(afterResume.sendAt.filter((t) => t > afterResume.now + CLAIM_MS), "held updates the ledger keeps for later after the resume").toEqual([]);
		const a = await settled(d.id, 90_000);
		expect(a.totals).toMatchObject({ received: N, delivered: N, pending: 0, held: 0, failed: 0 });
		expect((await prospectAttributes(4600 + N - 1)).custom4).toBe("realized");
		expect((await outreachRequests()).filter((r) => r.method === "PATCH").length, "segment statuses sent by PATCH").toBe(0);
		await expectWithinBudget();
	});
});
