import { beforeAll, describe, expect, it } from "vitest";
import { admin, adminJson, createDestination } from "../helpers/control";

const valid = {
	identityNamespace: "Oid",
	attributes: [
		{ source: "person.name.firstName", target: "firstName" },
		{ source: "_tenant.crm.accountName", target: "company" },
	],
	segments: [
		{ segmentId: "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10", mappingId: 4, name: "Engaged" },
		{ segmentId: "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", mappingId: 150 },
		{ segmentId: "seg-first", mappingId: 1 },
	],
	statusValues: { realized: "Active", existing: "Still active", exited: "x".repeat(32_000) },
};
type MappingBody = Record<string, unknown> & { attributes: Record<string, unknown>[]; segments: Record<string, unknown>[] };
const clone = (): MappingBody => structuredClone(valid) as MappingBody;

let id: string;
beforeAll(async () => {
	id = (await createDestination()).id;
});

type Problem = { path: string; message: string };
async function problemsOf(body: unknown): Promise<Problem[]> {
	const res = await admin(`/api/destinations/${id}/mapping`, { method: "PUT", json: body });
	const json = (await res.json()) as { error: { code: string; message: string; details: Problem[] } };
	expect(res.status, JSON.stringify(json)).toBe(400);
	expect(json.error.code).toBe("bad_request");
	return json.error.details;
}

/** [what is wrong, how to break the valid mapping, the path that must be named, what the message says]. */
const cases: [string, (m: MappingBody) => unknown, string, RegExp][] = [
	["identityNamespace missing", (m) => ({ ...m, identityNamespace: undefined }), "identityNamespace", /is required/],
	["identityNamespace blank", (m) => ({ ...m, identityNamespace: "  " }), "identityNamespace", /is required/],
	["mappingId 0", (m) => ((m.segments[0]!.mappingId = 0), m), "segments.0.mappingId", /from 1 to 150/],
	["mappingId 151", (m) => ((m.segments[0]!.mappingId = 151), m), "segments.0.mappingId", /from 1 to 150/],
	["mappingId not whole", (m) => ((m.segments[0]!.mappingId = 4.5), m), "segments.0.mappingId", /whole number/],
	["mappingId a string", (m) => ((m.segments[0]!.mappingId = "4"), m), "segments.0.mappingId", /number from 1 to 150/],
	["mappingId missing", (m) => (delete m.segments[0]!.mappingId, m), "segments.0.mappingId", /number from 1 to 150/],
	["mappingId used twice", (m) => ((m.segments[1]!.mappingId = 4), m), "segments.1.mappingId", /Mapping ID 4 is already used by segments\[0\]/],
	["a segment mapped twice", (m) => ((m.segments[2]!.segmentId = m.segments[0]!.segmentId), m), "segments.2.segmentId", /already mapped by segments\[0\]/],
	["segmentId empty", (m) => ((m.segments[0]!.segmentId = ""), m), "segments.0.segmentId", /must not be empty/],
	["segmentId missing", (m) => (delete m.segments[0]!.segmentId, m), "segments.0.segmentId", /is required/],
	["segment name not text", (m) => ((m.segments[0]!.name = 5), m), "segments.0.name", /text/],
	["segment name too long", (m) => ((m.segments[0]!.name = "n".repeat(257)), m), "segments.0.name", /at most 256/],
	["an unknown key in a segment", (m) => ((m.segments[0]!.mappingID = 4), m), "segments.0.mappingID", /not a known field/],
	["segments not a list", (m) => ({ ...m, segments: { segmentId: "x" } }), "segments", /array/],
	["target read-only", (m) => ((m.attributes[0]!.target = "createdAt"), m), "attributes.0.target", /writable Outreach prospect attribute/],
	["target read-only (name)", (m) => ((m.attributes[0]!.target = "name"), m), "attributes.0.target", /writable/],
	["target a custom field", (m) => ((m.attributes[0]!.target = "custom4"), m), "attributes.0.target", /custom fields are written by segments/],
	["target unknown", (m) => ((m.attributes[0]!.target = "favouriteColour"), m), "attributes.0.target", /writable Outreach prospect attribute/],
	["target missing", (m) => (delete m.attributes[0]!.target, m), "attributes.0.target", /is required/],
	["target used twice", (m) => ((m.attributes[1]!.target = "firstName"), m), "attributes.1.target", /already the target of attributes\[0\]/],
	["source not a dotted path", (m) => ((m.attributes[0]!.source = "person..name"), m), "attributes.0.source", /dotted XDM path/],
	["source with a space", (m) => ((m.attributes[0]!.source = "person.first name"), m), "attributes.0.source", /dotted XDM path/],
	["source empty", (m) => ((m.attributes[0]!.source = ""), m), "attributes.0.source", /dotted XDM path/],
	["source missing", (m) => (delete m.attributes[0]!.source, m), "attributes.0.source", /is required/],
	["a statusValues key other than realized/existing/exited", (m) => ({ ...m, statusValues: { realized: "A", active: "B" } }), "statusValues.active", /not a known field/],
	["a status word over 32,000 characters", (m) => ({ ...m, statusValues: { realized: "x".repeat(32_001) } }), "statusValues.realized", /32,000/],
	["a status word not text", (m) => ({ ...m, statusValues: { exited: 0 } }), "statusValues.exited", /text/],
	["an unknown top-level key", (m) => ({ ...m, segment: [] }), "segment", /not a known field/],
	["not an object at all", () => [valid], "(body)", /object/],
];

describe("PUT /api/destinations/:id/mapping refuses", () => {
	it.each(cases)("%s, naming the field", async (_what, breakIt, path, message) => {
		const problems = await problemsOf(breakIt(clone()));
		const named = problems.find((p) => p.path === path);
		expect(named, `problems: ${JSON.stringify(problems)}`).toBeDefined();
		expect(named!.message).toMatch(message);
	});

	it("lists every problem at once", async () => {
		const m = clone();
		m.identityNamespace = "";
		m.segments[0]!.mappingId = 0;
		m.segments[2]!.mappingId = 4;
		m.segments[2]!.segmentId = m.segments[1]!.segmentId;
		m.attributes[0]!.target = "custom9";
		m.attributes[1]!.source = "not a path";
		m.statusValues = { gone: "x" } as never;
		const paths = (await problemsOf(m)).map((p) => p.path).sort();
		expect(paths).toEqual(
			["attributes.0.target", "attributes.1.source", "identityNamespace", "segments.0.mappingId", "segments.2.segmentId", "statusValues.gone"].sort(),
		);
	});

	it("a body that is not JSON", async () => {
		const res = await admin(`/api/destinations/${id}/mapping`, { method: "PUT", body: "identityNamespace=Oid", headers: { "Content-Type": "application/json" } });
		expect(res.status).toBe(400);
		expect(await res.json()).toEqual({ error: { code: "bad_request", message: "The request body is not valid JSON." } });
	});

	it("for an unknown destination with 404, before looking at the body", async () => {
		const res = await admin("/api/destinations/nope/mapping", { method: "PUT", json: {} });
		expect(res.status).toBe(404);
	});
});

describe("a valid mapping", () => {
	it("round-trips: PUT answers the stored mapping, GET answers the same", async () => {
		const put = await adminJson<Record<string, unknown>>(`/api/destinations/${id}/mapping`, { method: "PUT", json: valid });
		expect(put).toEqual({ ...valid, warnings: [], remapped: [] });
		expect(await adminJson(`/api/destinations/${id}/mapping`)).toEqual(valid);
	});

	it("may leave out attributes, segments and statusValues", async () => {
		const put = await adminJson(`/api/destinations/${id}/mapping`, { method: "PUT", json: { identityNamespace: "Email" } });
		expect(put).toEqual({ identityNamespace: "Email", attributes: [], segments: [], warnings: [], remapped: [] });
		expect(await adminJson(`/api/destinations/${id}/mapping`)).toEqual({ identityNamespace: "Email", attributes: [], segments: [] });
	});

	it("warns when a scalar goes to a list attribute", async () => {
		const put = await adminJson<{ warnings: { path: string; message: string }[] }>(`/api/destinations/${id}/mapping`, {
			method: "PUT",
			json: { identityNamespace: "Oid", attributes: [{ source: "personalEmail.address", target: "emails" }] },
		});
		expect(put.warnings).toEqual([{ path: "attributes.0.target", message: expect.stringContaining("replaces the whole list") }]);
	});

	it("GET answers 404 while a destination has no mapping", async () => {
		const other = await createDestination();
		const res = await admin(`/api/destinations/${other.id}/mapping`);
		expect(res.status).toBe(404);
		expect(await res.json()).toMatchObject({ error: { code: "not_found", message: expect.stringContaining("PUT") } });
	});
});
