import { SELF } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import profilesText from "../fixtures/aep/sample-profiles.json?raw";
import realizedBody from "../fixtures/aep/rendered-realized.json?raw";
import exitedBody from "../fixtures/aep/rendered-exited.json?raw";
import { adminJson, createConnectedDestination, createDestination, resetOutreach } from "../helpers/control";
import { page, signInConsole, text } from "../console/helpers";
import { auditHooks } from "../helpers/audit";
import { activity, expectCountsAddUp, ingest, prospectAttributes, putMapping, settled, type IngestAnswer } from "../helpers/data";

// Every write these tests make is audited: none may put a field back to an older version.
auditHooks();

/**
 * Bodies rendered by `npm run aep -- render` from the package's template over profiles in AEP's sample-profile
 * format (test/aep/render.node.test.ts proves these files are exactly what render prints), posted with nothing
 * mapped in the console.
 */
const SEG_REALIZED = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const SEG_EXITED = "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
type SampleProfile = { attributes: Record<string, { value?: string }> };
const sample = JSON.parse(profilesText) as SampleProfile[];

async function post(destinationId: string, token: string, body: string): Promise<IngestAnswer> {
	const res = await ingest(destinationId, token, body);
	const text = await res.text();
	expect(res.status, text).toBe(202);
	return JSON.parse(text) as IngestAnswer;
}

describe("POST /ingest/:destinationId with the Destination SDK package's body", () => {
	beforeEach(async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
	});

	for (const [status, body, alias] of [
		["realized", realizedBody, 4],
		["exited", exitedBody, 7],
	] as const) {
		it(`lands a ${status} audience in custom<alias> and each attribute byte-for-byte, with no console mapping`, async () => {
			const d = await createConnectedDestination();
			const answer = await post(d.id, d.ingestToken, body);
			// The profile without an OutreachId and the one with a non-numeric id are rejected with their reason and counted.
			expect(answer.accepted).toBe(2);
			expect(answer.rejected).toEqual([
				{ index: 2, error: expect.stringMatching(/no 'OutreachId' identity/) },
				{ index: 3, error: expect.stringMatching(/OutreachId id "not-a-number" is not a positive integer/) },
			]);
			const act = await settled(d.id);
			expect(act.totals).toMatchObject({ received: 4, rejected: 2, delivered: 2 });
			expectCountsAddUp(act.totals);
			const tricky = await prospectAttributes(8101);
			expect(tricky[`custom${alias}`]).toBe(status);
			for (const name of ["firstName", "lastName", "title"]) expect(tricky[name], name).toBe(sample[0]!.attributes[name]!.value);
			const plain = await prospectAttributes(8102);
			expect(plain[`custom${alias}`]).toBe(status);
			expect(plain.firstName).toBe("Plain");
			// An attribute AEP sends as {} (not mapped, or absent) writes nothing.
			expect(plain.lastName).toBeUndefined();
		});
	}

	it("uses AEP's Mapping ID over the console's for the same segment", async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: SEG_REALIZED, mappingId: 5 }] });
		const body = realizedBody.replaceAll('"8101"', '"8201"').replaceAll('"8102"', '"8202"');
		expect((await post(d.id, d.ingestToken, body)).accepted).toBe(2);
		await settled(d.id);
		const p = await prospectAttributes(8201);
		expect(p.custom4).toBe("realized");
		expect(p.custom5).toBeUndefined();
		// The audience is listed as mapped in AEP, with its counts, and mapping/verify names the conflict.
		const act = (await activity(d.id)) as unknown as { aepAudiences: Record<string, unknown>[] };
		expect(act.aepAudiences).toEqual([
			expect.objectContaining({ segmentId: SEG_REALIZED, namespace: "ups", mappingId: 4, received: 4, rejected: 2, delivered: 2, firstSeen: expect.any(String), lastSeen: expect.any(String) }),
		]);
		const verify = await adminJson<{ warnings: { path: string; message: string }[] }>(`/api/destinations/${d.id}/mapping/verify`, { method: "POST" });
		// The console's activity page lists it and shows the conflict.
		const { html } = await page(`/destinations/${d.id}/activity`, await signInConsole());
		const table = text(html.slice(html.indexOf('data-testid="aep-audiences"')));
		expect(table).toContain(SEG_REALIZED);
		expect(table).toMatch(/conflict: this destination's mapping says 5; AEP's 4 is used/);
		expect(verify.warnings).toContainEqual({ path: "segments.0.mappingId", message: expect.stringMatching(/mapped in AEP to Mapping ID 4 .*AEP's Mapping ID wins.*this mapping's 5/) });
	});

	it("verifies the custom fields of audiences mapped in AEP against Outreach's picklists, with no console mapping", async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 }, fieldRules: { custom4: { type: "inclusion", definition: ["realized", "exited"] } } });
		const d = await createConnectedDestination();
		const body = realizedBody.replaceAll('"8101"', '"8501"').replaceAll('"8102"', '"8502"');
		expect((await post(d.id, d.ingestToken, body)).accepted).toBe(2);
		const verdict = await adminJson<{ ok: boolean; problems: { mappingId: number; word: string }[] }>(`/api/destinations/${d.id}/mapping/verify`, { method: "POST" });
		// The raw statuses fit the picklist but for the older word 'existing', which AEP may still send.
		expect(verdict.ok).toBe(false);
		expect(verdict.problems.map((p) => [p.mappingId, p.word])).toEqual([[4, "existing"]]);
	});

	it("accepts the token as a bare Authorization value too", async () => {
		const d = await createConnectedDestination();
		const res = await SELF.fetch(`http://localhost/ingest/${d.id}`, {
			method: "POST",
			headers: { Authorization: d.ingestToken, "Content-Type": "application/json" },
			body: realizedBody.replaceAll('"8101"', '"8301"').replaceAll('"8102"', '"8302"'),
		});
		expect(res.status, await res.clone().text()).toBe(202);
	});

	it("refuses with 400 a body whose Mapping ID is not a custom field number, saying where to correct it", async () => {
		const d = await createDestination();
		for (const alias of ["0", "151", "four", ""]) {
			const body = realizedBody.replace('"alias":"4"', `"alias":${JSON.stringify(alias)}`).replace(`{"${SEG_REALIZED}":"4"}`, `{"${SEG_REALIZED}":${JSON.stringify(alias)}}`);
			const res = await ingest(d.id, d.ingestToken, body);
			expect(res.status, alias).toBe(400);
			expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/Mapping ID .* must be a number from 1 to 150.*AEP's scheduling step/);
		}
	});

	it("rejects a profile naming an attribute that is not a writable Outreach attribute, by its index", async () => {
		const d = await createConnectedDestination();
		const body = JSON.parse(realizedBody) as { profiles: { identities: unknown; attributes: Record<string, unknown> }[] };
		body.profiles = [
			{ ...body.profiles[1]!, identities: { OutreachId: [{ id: "8401" }] }, attributes: { custom9: { value: "x" } } },
			{ ...body.profiles[1]!, identities: { OutreachId: [{ id: "8402" }] }, attributes: { nosuch: { value: "x" } } },
		];
		const answer = await post(d.id, d.ingestToken, JSON.stringify(body));
		expect(answer.accepted).toBe(0);
		expect(answer.rejected.map((r) => r.index)).toEqual([0, 1]);
		expect(answer.rejected[0]!.error).toMatch(/custom fields are written by segments/);
		expect(answer.rejected[1]!.error).toMatch(/must be a writable Outreach prospect attribute/);
		expect((await activity(d.id)).totals).toMatchObject({ received: 2, rejected: 2 });
	});

	it("answers 400 to a package body without a profiles list", async () => {
		const d = await createDestination();
		const res = await ingest(d.id, d.ingestToken, { format: "aep-outreach/1", segmentId: SEG_EXITED, alias: "7" });
		expect(res.status).toBe(400);
		expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/profiles/);
	});

});
