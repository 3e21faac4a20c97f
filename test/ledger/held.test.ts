import { describe, expect, it, vi } from "vitest";
import { metrics } from "../../src/platform/metrics";
import { adminJson, createConnectedDestination } from "../helpers/control";
import { activity, ingestOk, outreachRequests, prospectAttributes, putMapping, settled } from "../helpers/data";
import { handOffHooks } from "../helpers/hand-offs";

/**
 * Held costs nothing while held (design: "Holding and handing off"): a paused destination's updates wait in its
 * ledger, not in a loop of queue re-sends, and are all delivered, paced, once it resumes.
 */

handOffHooks();

describe("held updates", () => {
	it("cost nothing while a destination is paused, and are all delivered once it resumes", { timeout: 180_000 }, async () => {
		const d = await createConnectedDestination({ name: "Held" });
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		const people = Array.from({ length: 1000 }, (_, i) => ({ person: { name: { firstName: `Held ${i}` } }, identityMap: { Oid: [{ id: String(3000 + i) }] } }));
		for (let i = 0; i < people.length; i += 10) await ingestOk(d.id, d.ingestToken, people.slice(i, i + 10));
		await vi.waitUntil(async () => (await settledHeld(d.id)) === 1000, { timeout: 60_000, interval: 500 });
		const handedOver = metrics.queueMessagesSent;
		// 25 s spans the first five queue retries at the tests' RETRY_BASE_SECONDS of 1 (1 + 2 + 4 + 8 s): a loop of
		// re-sends shows within it. It is the suite's longest wait, so it is no longer than that.
		await new Promise((r) => setTimeout(r, 25_000));
		expect(metrics.queueMessagesSent - handedOver, "queue messages sent while held for 25 s").toBe(0);
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
