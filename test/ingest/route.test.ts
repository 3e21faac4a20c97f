import { env, SELF } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import mapping from "../fixtures/mapping.json";
import { adminJson, createConnectedDestination, createDestination, resetOutreach } from "../helpers/control";
import { activity, expectCountsAddUp, ingest, ingestOk, prospectAttributes, putMapping, settled } from "../helpers/data";
import { auditHooks } from "../helpers/audit";

const SEG = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const good = (id: number, status = "realized") => ({
	segmentMembership: { ups: { [SEG]: { status, lastQualificationTime: "2026-11-20T10:00:00Z" } } },
	identityMap: { Oid: [{ id: String(id) }] },
});


auditHooks();

describe("POST /ingest/:destinationId", () => {
	beforeEach(async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
	});

	it("answers an unknown destination and a wrong token with the same 401", async () => {
		const d = await createDestination();
		const wrong = await ingest(d.id, "not-the-token", good(1));
		const unknown = await ingest("no-such-destination", d.ingestToken, good(1));
		const missing = await SELF.fetch(`http://localhost/ingest/${d.id}`, { method: "POST", body: "{}" });
		expect([wrong.status, unknown.status, missing.status]).toEqual([401, 401, 401]);
		const [a, b] = [await wrong.json(), await unknown.json()];
		expect(a).toEqual(b);
	});

	it("refuses another destination's token", async () => {
		const [d1, d2] = [await createDestination(), await createDestination()];
		expect((await ingest(d1.id, d2.ingestToken, good(1))).status).toBe(401);
	});

	it("answers 413 over INGEST_MAX_BYTES, stating the limit in bytes and in KiB or MiB", async () => {
		const d = await createDestination();
		const max = Number(env.INGEST_MAX_BYTES);
		const huge = JSON.stringify([good(1), { padding: "x".repeat(max) }]);
		const res = await ingest(d.id, d.ingestToken, huge);
		expect(res.status).toBe(413);
		const { error } = (await res.json()) as { error: { code: string; message: string } };
		expect(error.code).toBe("payload_too_large");
		expect(error.message).toContain(`larger than ${max} bytes (`);
		const [, size, unit] = /\((\d+(?:\.\d+)?) (KiB|MiB), INGEST_MAX_BYTES\)/.exec(error.message) ?? [];
		expect(unit, error.message).toBeDefined();
		expect(Math.abs(Number(size) * (unit === "MiB" ? 1024 * 1024 : 1024) - max) / max).toBeLessThan(0.001);
		expect(error.message).toMatch(/fewer profiles/);
		// A body of exactly the limit is read.
		const base = JSON.stringify([good(1), { padding: "" }]);
		const fits = JSON.stringify([good(1), { padding: "x".repeat(max - base.length) }]);
		expect(fits.length).toBe(max);
		expect((await ingest(d.id, d.ingestToken, fits)).status).toBe(202);
	});

	it("answers 400 to a body that is not JSON, an array or NDJSON at all", async () => {
		const d = await createDestination();
		for (const body of ["", "not json", "42", "\"a string\"", "null", "{broken\n{also broken"]) {
			const res = await ingest(d.id, d.ingestToken, body);
			expect(res.status, `body ${JSON.stringify(body)}`).toBe(400);
			expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/JSON|NDJSON|empty/);
		}
	});

	it("rejects a broken NDJSON line or a bad array element by its index and accepts the rest", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping);
		const nd = [JSON.stringify(good(11)), "", "{oops", JSON.stringify(good(12))].join("\n");
		const a = await ingestOk(d.id, d.ingestToken, nd, "application/x-ndjson");
		expect(a.accepted).toBe(2);
		expect(a.rejected).toEqual([{ index: 1, error: expect.stringMatching(/line 2 is not valid JSON/) }]);
		const b = await ingestOk(d.id, d.ingestToken, [good(13), "a string", null]);
		expect(b.accepted).toBe(1);
		expect(b.rejected.map((r) => r.index)).toEqual([1, 2]);
		const act = await settled(d.id);
		expect(act.totals).toMatchObject({ received: 6, rejected: 3 });
		expectCountsAddUp(act.totals);
	});

	it("counts a profile with nothing mapped as skipped", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping);
		const a = await ingestOk(d.id, d.ingestToken, { identityMap: { Oid: [{ id: "5" }] }, segmentMembership: { ups: { other: { status: "realized" } } } });
		expect(a).toEqual({ accepted: 0, skipped: 1, rejected: [] });
		expect((await activity(d.id)).totals).toMatchObject({ received: 1, skipped: 1, pending: 0 });
	});

	it("keeps accepting while a destination is paused and delivers once it is resumed", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, mapping);
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		expect((await ingestOk(d.id, d.ingestToken, good(21))).accepted).toBe(1);
		await new Promise((r) => setTimeout(r, 2500));
		const held = await activity(d.id);
		expect(held.totals.pending).toBe(1);
		expect((await prospectAttributes(21)).custom4).toBeUndefined();
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });
		await settled(d.id, 60_000);
		expect((await prospectAttributes(21)).custom4).toBe("realized");
	});
});
