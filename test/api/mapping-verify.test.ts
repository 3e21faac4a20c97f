import { beforeEach, describe, expect, it } from "vitest";
import { parseFieldRules, ruleProblem, verifyMapping, type FieldRule } from "../../src/api/mapping";
import { Mapping } from "../../src/destinations/mapping";
import { admin, adminJson, createConnectedDestination, createDestination, outreachFaults, resetOutreach } from "../helpers/control";

type Verdict = { ok: boolean; problems: { mappingId: number; field: string; word: string; message: string }[] };

beforeEach(async () => {
	await resetOutreach({
		fieldRules: {
			custom4: { type: "inclusion", definition: ["Active", "Expired"] },
			custom7: { type: "number", definition: { min: 0 } },
		},
	});
});

async function putMapping(id: string, body: unknown) {
	await adminJson(`/api/destinations/${id}/mapping`, { method: "PUT", json: body });
}

describe("POST /api/destinations/:id/mapping/verify", () => {
	it("reports a status word outside a picklist on a mapped custom field", async () => {
		const { id } = await createConnectedDestination();
		await putMapping(id, {
			identityNamespace: "Oid",
			segments: [{ segmentId: "seg-a", mappingId: 4 }],
			statusValues: { realized: "Active", exited: "Gone" },
		});
		const verdict = await adminJson<Verdict>(`/api/destinations/${id}/mapping/verify`, { method: "POST" });
		expect(verdict).toEqual({
			ok: false,
			problems: [{ mappingId: 4, field: "custom4", word: "Gone", message: expect.stringMatching(/'Gone' \(written for exited\) is not in the picklist \(Active, Expired\)/) }],
			warnings: [],
		});
		expect(verdict.problems[0]!.message).toMatch(/Change statusValues\.exited/);
	});

	it("is ok when every word fits, and ignores fields without rules", async () => {
		const { id } = await createConnectedDestination();
		await putMapping(id, {
			identityNamespace: "Oid",
			segments: [
				{ segmentId: "seg-a", mappingId: 4 },
				{ segmentId: "seg-b", mappingId: 5 },
			],
			statusValues: { realized: "Active", exited: "Expired" },
		});
		expect(await adminJson<Verdict>(`/api/destinations/${id}/mapping/verify`, { method: "POST" })).toMatchObject({ ok: true, problems: [] });
	});

	it("checks the raw statuses when no words are set, and every rule kind", async () => {
		const { id } = await createConnectedDestination();
		await putMapping(id, { identityNamespace: "Oid", segments: [{ segmentId: "a", mappingId: 4 }, { segmentId: "b", mappingId: 7 }] });
		const verdict = await adminJson<Verdict>(`/api/destinations/${id}/mapping/verify`, { method: "POST" });
		expect(verdict.ok).toBe(false);
		expect(verdict.problems.map((p) => `${p.field}:${p.word}`)).toEqual([
			"custom4:realized",
			"custom4:existing",
			"custom4:exited",
			"custom7:realized",
			"custom7:existing",
			"custom7:exited",
		]);
	});

	it("answers 409 when the destination is not connected", async () => {
		const { id } = await createDestination();
		await putMapping(id, { identityNamespace: "Oid", segments: [{ segmentId: "a", mappingId: 4 }] });
		const res = await admin(`/api/destinations/${id}/mapping/verify`, { method: "POST" });
		expect(res.status).toBe(409);
		expect(await res.json()).toEqual({ error: { code: "conflict", message: expect.stringMatching(/not connected to Outreach\. Connect it/) } });
	});

	it("answers 409 when the connection was lost (a 401, one refresh refused)", async () => {
		const { id } = await createConnectedDestination();
		await putMapping(id, { identityNamespace: "Oid", segments: [{ segmentId: "a", mappingId: 4 }] });
		await outreachFaults({ revokeAllTokens: true });
		const res = await admin(`/api/destinations/${id}/mapping/verify`, { method: "POST" });
		expect(res.status).toBe(409);
		expect(await res.json()).toMatchObject({ error: { code: "conflict", message: expect.stringMatching(/reconnect required/) } });
	});

	it("answers 409 when there is no mapping yet", async () => {
		const { id } = await createConnectedDestination();
		const res = await admin(`/api/destinations/${id}/mapping/verify`, { method: "POST" });
		expect(res.status).toBe(409);
		expect(await res.json()).toMatchObject({ error: { message: expect.stringContaining("no mapping") } });
	});

	it("answers 502 when Outreach fails", async () => {
		const { id } = await createConnectedDestination();
		await putMapping(id, { identityNamespace: "Oid", segments: [{ segmentId: "a", mappingId: 4 }] });
		await outreachFaults({ status: 503, count: 1 });
		const res = await admin(`/api/destinations/${id}/mapping/verify`, { method: "POST" });
		expect(res.status).toBe(502);
		expect(await res.json()).toMatchObject({ error: { code: "upstream_error", message: expect.stringContaining("503") } });
	});
});

describe("field rules", () => {
	it("are read defensively from /api/v2/types", () => {
		const rules = parseFieldRules({
			data: [
				{ type: "type", id: "custom4", attributes: { name: "custom4", validation: { type: "inclusion", definition: ["A", 2] } } },
				{ type: "type", id: "custom5", attributes: { validation: { type: "date" } } },
				{ type: "type", id: "custom6", attributes: { name: "custom6", validation: { type: "somethingNew" } } },
				{ type: "type", id: "custom8" },
				"garbage",
			],
		});
		expect([...rules.keys()]).toEqual(["custom4", "custom5"]);
		expect(rules.get("custom4")).toMatchObject({ type: "inclusion", definition: ["A", "2"] });
		expect(parseFieldRules(null).size).toBe(0);
		expect(parseFieldRules({ data: "x" }).size).toBe(0);
	});

	it.each<[FieldRule, string, boolean]>([
		[{ type: "inclusion", definition: ["Active"] }, "Active", true],
		[{ type: "inclusion", definition: ["Active"] }, "active", false],
		[{ type: "number" }, "12.5", true],
		[{ type: "number" }, "Active", false],
		[{ type: "number", definition: { integer: true } }, "1.5", false],
		[{ type: "number", definition: { min: 0, max: 10 } }, "11", false],
		[{ type: "date" }, "2026-02-28", true],
		[{ type: "date" }, "2026-02-30", false],
		[{ type: "url" }, "https://example.com", true],
		[{ type: "url" }, "Active", false],
		[{ type: "format", definition: "[A-Z]+" }, "ACTIVE", true],
		[{ type: "format", definition: "[A-Z]+" }, "ACTIVE1", false],
		[{ type: "format", definition: "(" }, "anything", true],
	])("%j with %s → passes: %s", (rule, word, passes) => {
		expect(ruleProblem(rule, word) === null).toBe(passes);
	});

	it("are checked once per distinct word (existing takes realized's word)", () => {
		const mapping = Mapping.parse({ identityNamespace: "Oid", segments: [{ segmentId: "a", mappingId: 4 }], statusValues: { realized: "In", exited: "Out" } });
		const problems = verifyMapping(mapping, new Map([["custom4", { type: "inclusion", definition: ["Out"] } as FieldRule]]));
		expect(problems).toEqual([{ mappingId: 4, field: "custom4", word: "In", message: expect.stringContaining("written for realized, existing") }]);
	});
});
