import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { auditHooks } from "../helpers/audit";
import { adminJson, connectDestination, createDestination, REP, resetOutreach } from "../helpers/control";
import { activity, ingestOk, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";
import { bulkDestination, burst, expectNothingCreated, LIMIT, patches, profile, prospects, resetForImports, SEED_MAPPING } from "../helpers/imports";

/** A pause while the gate holds bulk work it took but has not sent (see imports.test.ts). */
auditHooks();

beforeEach(resetForImports);
afterEach(expectNothingCreated);

describe("a pause", () => {
	it("gives back the bulk work the gate took but has not sent: nothing is sent until the resume, then all lands", { timeout: 120_000 }, async () => {
		await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 }, prospects: prospects(70_000, 400) });
		// Another destination of the same Outreach user spends the window's budget first, so the gate holds the
		// burst it takes until the next window: the pause lands while the burst waits there.
		const spender = await createDestination({ name: "Spender" });
		await connectDestination(spender.id);
		await putMapping(spender.id, SEED_MAPPING);
		const d = await bulkDestination("Paused with work in the gate");
		await ingestOk(spender.id, spender.ingestToken, Array.from({ length: 100 }, (_, i) => profile(70_300 + i, "realized", `S${i}`)));
		await vi.waitUntil(async () => (await patches()) >= 60, { timeout: 20_000, interval: 100 });
		await burst(d, 70_000, 200);
		const gate = env.GATE.getByName(String(REP.id));
		await vi.waitUntil(async () => (await gate.bulkStatus(d.id)).waiting > 0, { timeout: 20_000, interval: 50 });
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		const pausedAt = Date.now();
		await vi.waitUntil(async () => (await activity(d.id)).totals.held === 200, { timeout: 30_000, interval: 200 });
		// A window and more later, nothing of the paused destination's went out.
		await new Promise((r) => setTimeout(r, 6_000));
		const sent = (await outreachRequests()).filter((r) => r.at > pausedAt && r.path.startsWith("/api/v2/imports"));
		expect(sent, "imports sent while paused").toHaveLength(0);
		expect((await prospectAttributes(70_000)).firstName).toBeUndefined();
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });
		const a = await settled(d.id, 80_000);
		expect(a.totals).toMatchObject({ received: 200, delivered: 200, held: 0, failed: 0 });
		expect((await prospectAttributes(70_199)).firstName).toBe("First-70199");
	});
});
