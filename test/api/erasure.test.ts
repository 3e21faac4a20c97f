import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { gateStub } from "../../src/gate/gate";
import { admin, adminJson, createConnectedDestination, repGate, resetOutreach } from "../helpers/control";
import { activity, failures, ingestOk, prospectAttributes, putMapping, settled } from "../helpers/data";
import { auditHooks } from "../helpers/audit";

// Every write these tests make is audited: none may put a field back to an older version.
auditHooks();

/**
 * Prospect trace and erasure (issue 22): what the product holds for one prospect, and a data subject's erasure
 * of this product's copy — values, versions, pending and held updates, failures and events — after which
 * nothing pending for them is ever sent.
 */

const SEG = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const person = (id: number, firstName: string, status = "realized") => ({
	person: { name: { firstName } },
	segmentMembership: { ups: { [SEG]: { status, lastQualificationTime: "2026-11-20T10:00:00Z" } } },
	identityMap: { Oid: [{ id: String(id) }] },
});
const mapping = {
	identityNamespace: "Oid",
	attributes: [{ source: "person.name.firstName", target: "firstName" }],
	segments: [{ segmentId: SEG, mappingId: 4 }],
	statusValues: { realized: "Active", exited: "Expired" },
};

type Trace = { prospectId: number; fields: { field: string; value: unknown; state: string; at: string }[]; events: { kind: string; detail: string }[] };
type Erased = { erased: { prospectIds: number[]; updates: Record<string, number>; failures: number; versions: number; events: number } };

async function trace(destinationId: string, prospectId: number): Promise<Response> {
	return admin(`/api/destinations/${destinationId}/prospects/${prospectId}`);
}

async function auditText(destinationId: string): Promise<string> {
	return JSON.stringify(await adminJson(`/api/audit?destinationId=${destinationId}&limit=100`));
}

beforeEach(async () => {
	await resetOutreach({ prospects: [4211, 4212, 4213], fieldRules: { custom4: { type: "inclusion", definition: ["Active", "Expired"] } } });
});

describe("the prospect trace", () => {
	it("shows each field's newest value, its state and when, and the prospect's events; 404 for a prospect nothing is held for", async () => {
		const d = await createConnectedDestination({ name: "Trace" });
		await putMapping(d.id, mapping);
		await ingestOk(d.id, d.ingestToken, [person(4211, "Ana")]);
		await settled(d.id);
		const t = await adminJson<Trace>(`/api/destinations/${d.id}/prospects/4211`);
		expect(t.prospectId).toBe(4211);
		expect(t.fields).toEqual(
			expect.arrayContaining([
				expect.objectContaining({ field: "firstName", value: "Ana", state: "delivered", at: expect.stringMatching(/^\d{4}-/) }),
				expect.objectContaining({ field: "custom4", value: "Active", state: "delivered" }),
			]),
		);
		expect(t.events.map((e) => e.kind)).toEqual(expect.arrayContaining(["received", "written"]));

		const none = await trace(d.id, 4213);
		expect(none.status).toBe(404);
		expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(/Nothing is held for prospect 4213/);
		const bad = await trace(d.id, "abc" as unknown as number);
		expect(bad.status).toBe(400);
	});
});

describe("erasure", () => {
	it("removes a paused destination's held update, whose value is then never delivered after resume; the other prospect's is", async () => {
		const d = await createConnectedDestination({ name: "Erase while paused" });
		await putMapping(d.id, mapping);
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		await ingestOk(d.id, d.ingestToken, [person(4211, "Erase Me Zed"), person(4212, "Keep Me")]);
		await vi.waitUntil(async () => (await activity(d.id)).totals.held === 2, { timeout: 30_000, interval: 250 });
		const held = await adminJson<Trace>(`/api/destinations/${d.id}/prospects/4211`);
		expect(held.fields).toContainEqual(expect.objectContaining({ field: "firstName", value: "Erase Me Zed", state: "held" }));

		const res = await admin(`/api/destinations/${d.id}/erasures`, { method: "POST", json: { prospectIds: ["4211"] } });
		expect(res.status).toBe(202);
		const body = (await res.json()) as Erased;
		expect(body.erased).toMatchObject({ prospectIds: [4211], updates: { held: 1, pending: 0 } });
		expect((await trace(d.id, 4211)).status).toBe(404);
		expect((await activity(d.id)).totals.held).toBe(1);

		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });
		await settled(d.id);
		expect((await prospectAttributes(4212)).firstName).toBe("Keep Me");
		expect((await prospectAttributes(4211)).firstName, "the erased prospect's held value reached Outreach").toBeUndefined();
		const writes = (await (await fetch(`${env.OUTREACH_API_BASE}/__fake/writes`)).json()) as { writes: { prospectId: number; value: unknown }[] };
		expect(writes.writes.filter((w) => w.prospectId === 4211)).toEqual([]);

		// The audit entry names the prospect id and the actor, never the value.
		const audit = await auditText(d.id);
		expect(audit).toContain("erased prospects 4211");
		expect(audit).toContain('"actor":"owner"');
		expect(audit).not.toContain("Erase Me Zed");
	});

	it("removes failures and the events naming the prospect, so no failure or activity row shows its values", async () => {
		const d = await createConnectedDestination({ name: "Erase failures" });
		// A status word outside custom4's picklist fails the segment field of every update: a failure per prospect.
		await putMapping(d.id, { ...mapping, statusValues: { realized: "Bogus", exited: "Expired" } });
		await ingestOk(d.id, d.ingestToken, [person(4211, "Failing Fay"), person(4212, "Other Otto")]);
		await vi.waitUntil(async () => (await failures(d.id)).length === 2, { timeout: 30_000, interval: 250 });
		expect((await activity(d.id)).recentErrors.some((e) => JSON.stringify(e).includes("4211"))).toBe(true);

		const body = await adminJson<Erased>(`/api/destinations/${d.id}/erasures`, { method: "POST", json: { prospectIds: ["4211"] } }, 202);
		expect(body.erased.failures).toBe(1);
		expect((await failures(d.id)).map((f) => f.prospectId)).toEqual([4212]);
		const a = JSON.stringify(await activity(d.id));
		expect(a).not.toMatch(/4211|Failing Fay/);
		expect((await trace(d.id, 4211)).status).toBe(404);
		expect((await trace(d.id, 4212)).status).toBe(200);
	});

	it("makes the gate refuse a copy of the prospect's older work still travelling, and forget its versions", async () => {
		const d = await createConnectedDestination({ name: "Erase versions" });
		await putMapping(d.id, mapping);
		await ingestOk(d.id, d.ingestToken, [person(4211, "Vera")]);
		await settled(d.id);
		const gate = gateStub(env, repGate());
		expect((await gate.prospectVersions(d.id, 4211)).length).toBeGreaterThan(0);
		const body = await adminJson<Erased>(`/api/destinations/${d.id}/erasures`, { method: "POST", json: { prospectIds: [4211] } }, 202);
		expect(body.erased.versions).toBeGreaterThan(0);
		expect(await gate.prospectVersions(d.id, 4211)).toEqual([]);
		await runInDurableObject(gate, (instance) => {
			const versions = (instance as unknown as { versions: { check(d: string, p: number, f: Record<string, { v: number[]; u: string }>, now: number): { kind: string } } }).versions;
			const before = Date.now() - 1000;
			// Observed before the erasure: superseded without a call. Observed after it (a new AEP event): written.
			expect(versions.check(d.id, 4211, { firstName: { v: [0, before, before, 0], u: "old:0" } }, Date.now()).kind).toBe("stale");
			const after = Date.now() + 1000;
			expect(versions.check(d.id, 4211, { firstName: { v: [0, after, after, 0], u: "new:0" } }, Date.now()).kind).toBe("fresh");
		});
	});

	it("validates its body: prospect ids are Outreach's numeric ids, at least one", async () => {
		const d = await createConnectedDestination({ name: "Erase validation" });
		for (const json of [{}, { prospectIds: [] }, { prospectIds: ["abc"] }, { prospectIds: [-1] }]) {
			const res = await admin(`/api/destinations/${d.id}/erasures`, { method: "POST", json });
			expect(res.status, JSON.stringify(json)).toBe(400);
		}
	});
});
