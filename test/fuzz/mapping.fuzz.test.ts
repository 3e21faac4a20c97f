import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { Mapping } from "../../src/destinations/mapping";
import { mappableAttributes } from "../../src/outreach/attributes";
import { admin, createDestination, type CreatedDestination } from "../helpers/control";
import { fuzzRuns } from "../suite-size";

/**
 * PUT /api/destinations/:id/mapping with generated bodies: never a 5xx; either 400 with details naming the
 * path of each problem, or 200 with the stored mapping, which GET then answers unchanged.
 */

let d: CreatedDestination;
beforeAll(async () => {
	d = await createDestination({ name: "Fuzzed mapping" });
});

const text = fc.string({ unit: "grapheme", maxLength: 30 });
const weird = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), text, fc.jsonValue({ maxDepth: 2 }));
const xdmPath = fc.oneof(
	{ weight: 4, arbitrary: fc.constantFrom("person.name.firstName", "person.name.lastName", "personalEmail.address", "workAddress.city", "a", "_x.y-z") },
	fc.stringMatching(/^[A-Za-z_][\w-]{0,8}(\.[A-Za-z_][\w-]{0,8}){0,3}$/),
	text,
	fc.constantFrom("", ".", "a..b", "a.", " person.name.firstName ", "1abc", "a b"),
);
const target = fc.oneof(
	{ weight: 4, arbitrary: fc.constantFrom(...mappableAttributes) },
	fc.constantFrom("custom4", "custom151", "createdAt", "name", "firstname", ""),
	text,
);
const attribute = fc.oneof(
	{ weight: 6, arbitrary: fc.record({ source: xdmPath, target }) },
	fc.record({ source: fc.oneof(xdmPath, weird), target: fc.oneof(target, weird), extra: weird }, { requiredKeys: [] }),
	weird,
);
const segment = fc.oneof(
	{
		weight: 6,
		arbitrary: fc.record(
			{
				segmentId: fc.oneof({ weight: 3, arbitrary: fc.uuid() }, text, fc.constant(""), fc.constant("x".repeat(300))),
				mappingId: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 150 }) }, fc.integer({ min: -5, max: 200 }), fc.double(), fc.constant("4")),
				name: fc.oneof(text, fc.constant("n".repeat(300)), weird),
			},
			{ requiredKeys: ["segmentId", "mappingId"] },
		),
	},
	fc.record({ segmentID: text, mappingId: fc.nat() }),
	weird,
);
const statusValues = fc.oneof(
	fc.record({ realized: fc.oneof(text, weird), existing: text, exited: fc.oneof(text, fc.constant("w".repeat(32_001))) }, { requiredKeys: [] }),
	fc.record({ realised: text }),
	weird,
);
const mappingBody = fc.record(
	{
		identityNamespace: fc.oneof({ weight: 4, arbitrary: fc.constantFrom("Oid", " Oid ", "ecid") }, text, fc.constant(""), weird),
		attributes: fc.oneof({ weight: 4, arbitrary: fc.array(attribute, { maxLength: 5 }) }, weird),
		segments: fc.oneof({ weight: 4, arbitrary: fc.array(segment, { maxLength: 5 }) }, weird),
		statusValues,
		unexpected: weird,
	},
	{ requiredKeys: [] },
);

/** A mapping that should be stored: distinct targets, distinct segments and Mapping IDs, words within limits. */
const validMapping = fc.record(
	{
		identityNamespace: fc.oneof(fc.constantFrom("Oid", "ecid", " Oid "), fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }).filter((t) => t.trim() !== "")),
		attributes: fc.uniqueArray(
			fc.record({ source: fc.stringMatching(/^[A-Za-z_][\w-]{0,8}(\.[A-Za-z_][\w-]{0,8}){0,3}$/), target: fc.constantFrom(...mappableAttributes) }),
			{ maxLength: 6, selector: (a) => a.target },
		),
		segments: fc.uniqueArray(
			fc.record(
				{ segmentId: fc.oneof(fc.uuid(), fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((t) => t.trim() !== "")), mappingId: fc.integer({ min: 1, max: 150 }), name: text },
				{ requiredKeys: ["segmentId", "mappingId"] },
			),
			{ maxLength: 6, selector: (seg) => seg.mappingId },
		).map((list) => list.filter((seg, i) => list.findIndex((o) => o.segmentId.trim() === seg.segmentId.trim()) === i)),
		statusValues: fc.record({ realized: text, existing: text, exited: text }, { requiredKeys: [] }),
	},
	{ requiredKeys: ["identityNamespace"] },
);

type Req = { body: string; contentType: string; object: Record<string, unknown> | null };
const request: fc.Arbitrary<Req> = fc.oneof(
	{ weight: 5, arbitrary: validMapping.map((m) => ({ body: JSON.stringify(m), contentType: "application/json", object: m as Record<string, unknown> })) },
	{ weight: 6, arbitrary: mappingBody.map((m) => ({ body: JSON.stringify(m), contentType: "application/json", object: m as Record<string, unknown> })) },
	weird.map((v) => ({ body: JSON.stringify(v), contentType: "application/json", object: null })),
	fc.tuple(mappingBody, fc.nat()).map(([m, n]) => {
		const t = JSON.stringify(m);
		return { body: t.slice(0, n % t.length), contentType: "application/json", object: null };
	}),
	mappingBody.map((m) => ({ body: JSON.stringify(m), contentType: "text/plain", object: null })),
);

type ErrorBody = { error: { code: string; message: string; details?: { path: string; message: string }[] } };
const FIELDS = ["identityNamespace", "attributes", "segments", "statusValues"];

describe("fuzzing PUT /api/destinations/:id/mapping", () => {
	it("answers every generated body with 400 naming each problem's path, or 200 and a mapping GET reads back", { timeout: 600_000 }, async () => {
		await fc.assert(
			fc.asyncProperty(request, async ({ body, contentType, object }) => {
				const res = await admin(`/api/destinations/${d.id}/mapping`, { method: "PUT", body, headers: { "Content-Type": contentType } });
				const answer = await res.text();
				expect(res.status, answer.slice(0, 300)).toBeLessThan(500);
				expect([200, 400], answer.slice(0, 300)).toContain(res.status);
				if (res.status === 400) {
					const err = JSON.parse(answer) as ErrorBody;
					expect(err.error.code).toBe("bad_request");
					expect(err.error.message.length).toBeGreaterThan(10);
					if (object) {
						// A JSON object that breaks the schema: every problem names where it is.
						expect(err.error.details?.length, answer.slice(0, 300)).toBeGreaterThan(0);
						for (const p of err.error.details!) {
							expect(p.message.length).toBeGreaterThan(0);
							const head = p.path.split(".")[0]!;
							expect(head === "(body)" || FIELDS.includes(head) || Object.hasOwn(object, head), `path '${p.path}'`).toBe(true);
						}
					}
					return;
				}
				const { warnings, remapped, ...stored } = JSON.parse(answer) as Record<string, unknown> & { warnings: unknown[]; remapped: unknown[] };
				expect(Array.isArray(warnings)).toBe(true);
				expect(Array.isArray(remapped)).toBe(true);
				expect(Mapping.safeParse(stored).success).toBe(true);
				const read = await admin(`/api/destinations/${d.id}/mapping`);
				expect(read.status).toBe(200);
				expect(await read.json()).toEqual(stored);
			}),
			{ numRuns: fuzzRuns() },
		);
	});
});
