import { abortAllDurableObjects } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import {
	connectDestination,
	createConnectedDestination,
	getDestination,
	outreachFaults,
	outreachStats,
	resetOutreach,
	type CreatedDestination,
} from "../helpers/control";
import { expectCountsAddUp, ingestOk, maxInAnyWindow, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";
import { auditHooks } from "../helpers/audit";

const SEG = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const LIMIT = 100;
const WINDOW_MS = 5_000;

/** `count` updates over `prospects` prospects (from `first`), qualification times shuffled; answers the expected final words. */
function load(count: number, prospects: number, first = 1) {
	const profiles: unknown[] = [];
	const best = new Map<number, { t: number; status: string }>();
	for (let i = 0; i < count; i++) {
		const id = first + ((i * 7) % prospects);
		const t = Date.UTC(2026, 10, 2) + ((i * 104729) % 10_000) * 1000 + i;
		const status = i % 2 ? "realized" : "exited";
		if (!best.has(id) || t > best.get(id)!.t) best.set(id, { t, status });
		profiles.push({
			segmentMembership: { ups: { [SEG]: { status, lastQualificationTime: new Date(t).toISOString() } } },
			identityMap: { Oid: [{ id: String(id) }] },
		});
	}
	return { profiles, expected: new Map([...best].map(([id, b]) => [id, b.status])) };
}

async function destination(): Promise<CreatedDestination> {
	const d = await createConnectedDestination();
	await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: SEG, mappingId: 4 }] });
	return d;
}

async function send(d: CreatedDestination, profiles: unknown[]): Promise<void> {
	for (let i = 0; i < profiles.length; i += 10) await ingestOk(d.id, d.ingestToken, profiles.slice(i, i + 10));
}

/** The invariants every fault must keep: expected final states, counts that add up, the limit never exceeded. */
async function expectInvariants(d: CreatedDestination, expected: Map<number, string>, timeout = 90_000) {
	const a = await settled(d.id, timeout);
	expectCountsAddUp(a.totals);
	expect(a.totals.failed).toBe(0);
	for (const [id, status] of expected) expect((await prospectAttributes(id)).custom4, `prospect ${id}`).toBe(status);
	expect(maxInAnyWindow(await outreachRequests(), WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
	return a;
}

// The gate remembers applied versions across tests in this file, so each test uses its own prospects.

auditHooks();

describe("delivery under faults (limit 100 per 5 s)", () => {
	beforeEach(async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: WINDOW_MS / 1000 } });
	});

	it("retries 503s with backoff until delivered", async () => {
		const d = await destination();
		await outreachFaults({ status: 503, count: 8 });
		const { profiles, expected } = load(40, 20);
		await send(d, profiles);
		await expectInvariants(d, expected);
		expect((await outreachStats()).requests["PATCH /api/v2/prospects/:id"]?.["503"]).toBe(8);
	});

	it("rides out latency spikes", async () => {
		const d = await destination();
		await outreachFaults({ latencyMs: 400 });
		const { profiles, expected } = load(40, 20, 1000);
		await send(d, profiles);
		await expectInvariants(d, expected);
	});

	it("pauses on a 429 storm caused by another integration of the same user, then delivers everything", async () => {
		const d = await destination();
		const { profiles, expected } = load(60, 30, 2000);
		await send(d, profiles.slice(0, 20));
		await outreachFaults({ spendBudget: { userId: 1, calls: LIMIT } });
		await send(d, profiles.slice(20));
		await expectInvariants(d, expected);
	});

	it("holds updates while the tokens are revoked, without a refresh storm, and delivers after reconnecting", async () => {
		const d = await destination();
		const first = load(10, 10, 100);
		await send(d, first.profiles);
		await settled(d.id);
		await outreachFaults({ revokeAllTokens: true });
		const grantsBefore = (await outreachStats()).tokenGrants.refresh_token;
		const second = load(20, 10, 100);
		await send(d, second.profiles);
		await vi.waitUntil(async () => (await getDestination(d.id)).status === "reconnect_required", { timeout: 30_000, interval: 250 });
		await new Promise((r) => setTimeout(r, 3000));
		// One failed refresh marks the connection lost; nothing keeps retrying it.
		expect((await outreachStats()).requests["POST /oauth/token"]?.["400"] ?? 0).toBeLessThanOrEqual(1);
		expect((await outreachStats()).tokenGrants.refresh_token).toBe(grantsBefore);
		await outreachFaults({});
		await connectDestination(d.id);
		await expectInvariants(d, second.expected);
	});

	it("loses nothing when the gate and ledger are evicted mid-run", async () => {
		const d = await destination();
		const { profiles, expected } = load(150, 149, 300);
		await send(d, profiles.slice(0, 100));
		await abortAllDurableObjects();
		await send(d, profiles.slice(100));
		await new Promise((r) => setTimeout(r, 1500));
		await abortAllDurableObjects();
		await expectInvariants(d, expected);
	});
});
