import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BENCH_MAPPING } from "../../scripts/bench/profiles";
import { crashAt, disarmAll, type CrashPointName } from "../../src/platform/crashpoints";
import { metrics } from "../../src/platform/metrics";
import { auditHooks } from "../helpers/audit";
import { adminJson, createConnectedDestination, resetOutreach, type CreatedDestination } from "../helpers/control";
import { activity, expectCountsAddUp, failures, ingest, ingestOk, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";

/**
 * Nothing lost, nothing stuck, nothing doubled (design: "Holding and handing off"). At each hand-off between
 * ingest, the queue, the consumer and the ledger, the Worker is made to fail once (src/platform/crashpoints.ts), on a
 * load larger than the budget (100 calls per 5 s), so deferrals and re-sends are part of every run. Each ends
 * with every update delivered — the write audit shows no older value ever applied, and at most the one allowed
 * identical repeat of a PATCH — counts that add up, nothing pending, and nothing listed failed.
 */

auditHooks();

const PROFILES = 160;
const PROSPECTS = 130;

beforeEach(async () => {
	await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
});
afterEach(() => disarmAll());

let scenario = 0;

type Load = { profiles: unknown[]; expected: Map<number, Record<string, string>> };

/**
 * 160 profiles over 130 prospects, every version with a value of its own (so a repeated write is a repeated
 * PATCH, not a new version that happens to carry the same value), later qualification for later profiles.
 */
function loadFor(first: number): Load {
	const seg = BENCH_MAPPING.segments[0]!;
	const profiles: unknown[] = [];
	const expected = new Map<number, Record<string, string>>();
	for (let k = 0; k < PROFILES; k++) {
		const id = first + (k % PROSPECTS);
		const status = k < PROSPECTS ? "realized" : "exited"; // a prospect's second version changes its status
		profiles.push({
			person: { name: { firstName: `V${k}` } },
			segmentMembership: { ups: { [seg.segmentId]: { status, lastQualificationTime: new Date(Date.UTC(2026, 10, 1) + k * 1000).toISOString() } } },
			identityMap: { Oid: [{ id: String(id) }] },
		});
		expected.set(id, { firstName: `V${k}`, [`custom${seg.mappingId}`]: status });
	}
	return { profiles, expected };
}

async function destinationWithLoad(): Promise<{ d: CreatedDestination; load: Load }> {
	scenario++;
	const d = await createConnectedDestination({ name: `Hand-offs ${scenario}` });
	await putMapping(d.id, BENCH_MAPPING);
	return { d, load: loadFor(2000 + scenario * 200) };
}

/** Posts the load as AEP does: 10 profiles a request, one request at a time. */
async function post(d: CreatedDestination, load: Load): Promise<void> {
	for (let i = 0; i < load.profiles.length; i += 10) await ingestOk(d.id, d.ingestToken, load.profiles.slice(i, i + 10));
}

/**
 * The invariants after a crash: all delivered in its expected state, nothing failed or pending, and no
 * identical write repeated more than `repeats` times (a crash between PATCHes and their settle repeats each of
 * those PATCHes once: their versions were never confirmed).
 */
async function expectWhole(d: CreatedDestination, load: Load, opts: { repeats: number }): Promise<void> {
	const a = await settled(d.id, 90_000);
	expectCountsAddUp(a.totals);
	expect(a.totals).toMatchObject({ received: load.profiles.length, pending: 0, failed: 0, held: 0 });
	expect(await failures(d.id)).toEqual([]);
	const wrong: string[] = [];
	for (const [id, expected] of load.expected) {
		const actual = await prospectAttributes(id);
		for (const [field, value] of Object.entries(expected)) if (actual[field] !== value) wrong.push(`${id}.${field}=${String(actual[field])}, expected ${value}`);
	}
	expect(wrong).toEqual([]);
	// A PATCH repeated with the same values: allowed once per crash between a PATCH and its settle.
	const { writes } = (await (await fetch(`${env.OUTREACH_API_BASE}/__fake/writes`)).json()) as { writes: { prospectId: number; field: string; value: unknown }[] };
	const seen = new Map<string, number>();
	for (const w of writes) {
		const key = `${w.prospectId}/${w.field}/${JSON.stringify(w.value)}`;
		seen.set(key, (seen.get(key) ?? 0) + 1);
	}
	const repeatedMost = Math.max(0, ...[...seen.values()].map((c) => c - 1));
	expect(repeatedMost, "the most times one identical write was repeated").toBeLessThanOrEqual(opts.repeats);
}

async function crashScenario(point: CrashPointName, times: number, repeats = 0): Promise<void> {
	const { d, load } = await destinationWithLoad();
	const sentBefore = metrics.queueMessagesSent;
	crashAt(point, times);
	await post(d, load);
	await expectWhole(d, load, { repeats });
	// Copies never multiply: one message per request, plus the deferrals' re-sends (packed per batch).
	expect(metrics.queueMessagesSent - sentBefore, "queue messages").toBeLessThan(load.profiles.length / 10 + 60);
}

describe("a crash at a hand-off", () => {
	it("between the receipt and the queue write: the request answers 503, AEP's retry gets the first copy's counts, and the outbox hands the updates over", { timeout: 120_000 }, async () => {
		const { d, load } = await destinationWithLoad();
		crashAt("ledger.receipt");
		const body = JSON.stringify(load.profiles.slice(0, 10));
		const first = await ingest(d.id, d.ingestToken, body);
		expect(first.status).toBe(503);
		expect(((await first.json()) as { error: { message: string } }).error.message).toMatch(/Retry the request/);
		// AEP retries about 15 s later (here at once): the receipt exists, so it is that request's retry.
		const retry = await ingestOk(d.id, d.ingestToken, body);
		expect(retry).toMatchObject({ accepted: 10, rejected: [] });
		for (let i = 10; i < load.profiles.length; i += 10) await ingestOk(d.id, d.ingestToken, load.profiles.slice(i, i + 10));
		await expectWhole(d, load, { repeats: 0 });
	});

	it("inside the outbox's sendBatch: the ledger's alarm hands the updates over", { timeout: 120_000 }, async () => {
		await crashScenario("outbox.send", 3);
	});

	it("between a PATCH and its settle: the batch is retried, and a PATCH repeats at most once, never an older value", { timeout: 120_000 }, async () => {
		await crashScenario("delivery.patched", 1, 1);
	});

	it("inside the ledger's recording of a batch: the batch is retried, Outreach's accepted updates are delivered, not failed", { timeout: 120_000 }, async () => {
		await crashScenario("ledger.record", 2);
	});

	it("inside the re-send, after the ledger recorded the batch: no copy is added, the alarm sends what was due", { timeout: 120_000 }, async () => {
		await crashScenario("ledger.resend", 2);
	});
});

describe("held updates", () => {
	it("cost nothing while a destination is paused, and are all delivered once it resumes", { timeout: 180_000 }, async () => {
		const d = await createConnectedDestination({ name: "Held" });
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		const people = Array.from({ length: 1000 }, (_, i) => ({ person: { name: { firstName: `Held ${i}` } }, identityMap: { Oid: [{ id: String(3000 + i) }] } }));
		for (let i = 0; i < people.length; i += 10) await ingestOk(d.id, d.ingestToken, people.slice(i, i + 10));
		await vi.waitUntil(async () => (await settledHeld(d.id)) === 1000, { timeout: 60_000, interval: 500 });
		const handedOver = metrics.queueMessagesSent;
		await new Promise((r) => setTimeout(r, 60_000));
		expect(metrics.queueMessagesSent - handedOver, "queue messages sent while held for 60 s").toBe(0);
		expect(await settledHeld(d.id)).toBe(1000);

		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });
		const a = await settled(d.id, 120_000);
		expect(a.totals).toMatchObject({ received: 1000, delivered: 1000, held: 0, failed: 0 });
		expect((await prospectAttributes(3999)).firstName).toBe("Held 999");
		expect((await outreachRequests()).filter((r) => r.status === 429)).toEqual([]);
	});
});

async function settledHeld(id: string): Promise<number> {
	return (await activity(id)).totals.held;
}
