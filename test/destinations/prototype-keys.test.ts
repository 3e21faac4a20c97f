import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { admin, adminJson, createConnectedDestination, createDestination, resetOutreach, type CreatedDestination } from "../helpers/control";
import { activity, expectCountsAddUp, ingest, ingestOk, prospectAttributes, putMapping, settled } from "../helpers/data";
import { fuzzRuns } from "../suite-size";

/**
 * Segment ids, identity namespaces and attribute paths are user data, and users may name them like members
 * of Object.prototype (`constructor`, `toString`, `__proto__`…). Wherever such a name is used as a key it is
 * read as an own property, so it is an ordinary name: it maps, ingests and delivers like any other, and
 * never turns into a prototype lookup (a bogus field value) or a prototype write (a 500).
 */

const PROTO = [
	"constructor",
	"toString",
	"__proto__",
	"valueOf",
	"hasOwnProperty",
	"isPrototypeOf",
	"propertyIsEnumerable",
	"toLocaleString",
	"__defineGetter__",
	"__lookupSetter__",
	"prototype",
] as const;

/** An object with exactly these own keys — `__proto__` included as a plain key, as JSON.parse makes it. */
const own = (entries: [string, unknown][]): Record<string, unknown> => Object.fromEntries(entries);

/** `{a: {b: {c: value}}}` for the path `a.b.c`, with own keys only. */
function atPath(path: string, value: unknown): Record<string, unknown> {
	return path
		.split(".")
		.reverse()
		.reduce<unknown>((inner, key) => own([[key, inner]]), value) as Record<string, unknown>;
}

describe("a destination mapping segments named like Object.prototype members", () => {
	beforeEach(async () => {
		await resetOutreach({ prospects: [4301, 4302] });
	});

	it("delivers constructor, toString and __proto__ to Outreach, and leaves other profiles' fields alone", async () => {
		const d = await createConnectedDestination({ name: "Prototype names" });
		await putMapping(d.id, {
			identityNamespace: "Oid",
			attributes: [
				{ source: "constructor.name", target: "firstName" },
				{ source: "__proto__.title", target: "title" },
			],
			segments: [
				{ segmentId: "constructor", mappingId: 1 },
				{ segmentId: "toString", mappingId: 2 },
				{ segmentId: "__proto__", mappingId: 3 },
				{ segmentId: "plain-segment", mappingId: 4 },
			],
			statusValues: { realized: "Active", exited: "Expired" },
		});
		const at = "2026-11-20T10:00:00Z";
		const all = {
			...own([
				["constructor", { name: "Ada" }],
				["__proto__", { title: "Engineer" }],
			]),
			segmentMembership: {
				ups: own([
					["constructor", { status: "realized", lastQualificationTime: at }],
					["toString", { status: "existing", lastQualificationTime: at }],
					["__proto__", { status: "exited", lastQualificationTime: at }],
				]),
			},
			identityMap: { Oid: [{ id: "4301" }] },
		};
		// This profile carries none of the prototype-named segments: it must not get values for them.
		const plain = { segmentMembership: { ups: { "plain-segment": { status: "realized", lastQualificationTime: at } } }, identityMap: { Oid: [{ id: "4302" }] } };
		const answer = await ingestOk(d.id, d.ingestToken, JSON.stringify([all, plain]));
		expect(answer).toEqual({ accepted: 2, skipped: 0, rejected: [] });

		const done = await settled(d.id);
		expect(done.totals).toMatchObject({ received: 2, delivered: 2, failed: 0 });
		expect(done.segments.map((s) => [s.segmentId, s.mappingId, s.delivered]).sort()).toEqual(
			[
				["__proto__", 3, 1],
				["constructor", 1, 1],
				["plain-segment", 4, 1],
				["toString", 2, 1],
			].sort(),
		);
		expect(await prospectAttributes(4301)).toMatchObject({ custom1: "Active", custom2: "Active", custom3: "Expired", firstName: "Ada", title: "Engineer" });
		const other = await prospectAttributes(4302);
		expect(other).toMatchObject({ custom4: "Active" });
		for (const field of ["custom1", "custom2", "custom3", "firstName", "title"]) expect(other[field] ?? null, field).toBeNull();
	});
});

describe("a failed update for a segment named __proto__", () => {
	it("is replayed from its stored source data with the current mapping", async () => {
		await resetOutreach({ prospects: [4303], fieldRules: { custom3: { type: "inclusion", definition: ["Active"] } } });
		const d = await createConnectedDestination({ name: "Prototype replay" });
		const mapping = { identityNamespace: "Oid", segments: [{ segmentId: "__proto__", mappingId: 3 }], statusValues: { realized: "Active", exited: "Gone" } };
		await putMapping(d.id, mapping);
		const profile = {
			segmentMembership: { ups: own([["__proto__", { status: "exited", lastQualificationTime: "2026-11-20T10:00:00Z" }]]) },
			identityMap: { Oid: [{ id: "4303" }] },
		};
		expect(await ingestOk(d.id, d.ingestToken, JSON.stringify(profile))).toEqual({ accepted: 1, skipped: 0, rejected: [] });
		expect((await settled(d.id)).totals).toMatchObject({ failed: 1 });

		// Fix the word, replay: the stored source data still knows the `__proto__` segment's status.
		await putMapping(d.id, { ...mapping, statusValues: { realized: "Active", exited: "Active" } });
		expect(await adminJson(`/api/destinations/${d.id}/failures/replay`, { method: "POST", json: {} })).toEqual({ replayed: 1 });
		await vi.waitUntil(async () => (await activity(d.id)).totals.delivered === 1, { timeout: 30_000, interval: 250 });
		expect(await prospectAttributes(4303)).toMatchObject({ custom3: "Active" });
	});
});

// ─── fuzzing ────────────────────────────────────────────────────────────────────────────────────────────

const protoName = fc.constantFrom(...PROTO);
const anyName = fc.oneof({ weight: 3, arbitrary: protoName }, fc.constantFrom("Oid", "ups", "person", "name", "x"));
const path = fc.array(anyName, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("."));
const weird = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 5 }), fc.constant({}), fc.constant([]));

const mappingBody = fc.record(
	{
		identityNamespace: fc.oneof(anyName, weird),
		attributes: fc.array(fc.record({ source: fc.oneof(path, weird), target: fc.oneof(fc.constantFrom("firstName", "title", "lastName"), protoName) }), { maxLength: 4 }),
		segments: fc.array(fc.record({ segmentId: fc.oneof(protoName, weird), mappingId: fc.integer({ min: 1, max: 150 }), name: fc.oneof(protoName, fc.constant(undefined)) }, { requiredKeys: ["segmentId", "mappingId"] }), {
			maxLength: 5,
		}),
		statusValues: fc.oneof(
			fc.constant(undefined),
			fc.dictionary(fc.oneof(protoName, fc.constantFrom("realized", "exited")), fc.string({ maxLength: 8 }), { maxKeys: 3 }).map((o) => own(Object.entries(o))),
		),
	},
	{ requiredKeys: ["identityNamespace"] },
);

/** A valid mapping over prototype names, and what the ingest must make of profiles built for it. */
type Plan = { namespace: string; mapped: string[]; unmapped: string[]; attributePath: string | null };
const plan: fc.Arbitrary<Plan> = fc
	.record({
		namespace: fc.oneof(protoName, fc.constant("Oid")),
		mapped: fc.uniqueArray(protoName, { minLength: 1, maxLength: 4 }),
		attributePath: fc.option(path),
	})
	.map(({ namespace, mapped, attributePath }) => ({ namespace, mapped, unmapped: PROTO.filter((p) => !mapped.includes(p)), attributePath }));

type Kind = "accepted" | "skipped" | "badStatus" | "noIdentity";
type Built = { kind: Kind; profile: Record<string, unknown> };

function profileFor(p: Plan, kind: Kind, pick: number, id: number, ns: string): Built {
	const seg = p.mapped[pick % p.mapped.length]!;
	const noise = p.unmapped.length ? p.unmapped[pick % p.unmapped.length]! : null;
	const segments: [string, unknown][] = [];
	if (noise) segments.push([noise, { status: pick % 2 ? "bogus" : "realized" }]);
	if (kind === "accepted" || kind === "noIdentity") segments.push([seg, { status: ["realized", "existing", "exited"][pick % 3] }]);
	if (kind === "badStatus") segments.push([seg, { status: "bogus" }]);
	const identities: [string, unknown][] = PROTO.filter((n) => n !== p.namespace)
		.slice(0, 2)
		.map((n) => [n, [{ id: "not-a-number" }]]);
	if (kind !== "noIdentity") identities.push([p.namespace, [{ id: String(id) }]]);
	const profile = own([
		["segmentMembership", own([[ns, own(segments)]])],
		["identityMap", own(identities)],
	]);
	// The mapped attribute is present only where the profile should count as mapped.
	if (p.attributePath && kind !== "skipped") Object.assign(profile, deepMerge(profile, atPath(p.attributePath, "Ada")));
	return { kind, profile };
}

/** Merges `b` into `a` (own keys only; `b` wins on scalars). */
function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
	const out = own(Object.entries(a));
	for (const [k, v] of Object.entries(b)) {
		const cur = Object.hasOwn(out, k) ? out[k] : undefined;
		const merged = cur && typeof cur === "object" && !Array.isArray(cur) && v && typeof v === "object" ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
		Object.defineProperty(out, k, { value: merged, enumerable: true, writable: true, configurable: true });
	}
	return out;
}

const kinds = fc.array(fc.record({ kind: fc.constantFrom<Kind>("accepted", "skipped", "badStatus", "noIdentity"), pick: fc.nat(), ns: fc.oneof(protoName, fc.constant("ups")) }), {
	minLength: 1,
	maxLength: 6,
});

describe("fuzzing prototype names through the public routes", () => {
	let d: CreatedDestination;
	beforeAll(async () => {
		d = await createDestination({ name: "Fuzzed prototype names" });
	});
	afterAll(async () => {
		await admin(`/api/destinations/${d.id}`, { method: "DELETE" });
	});

	it("PUT mapping accepts (and reads back) or refuses with 400 a mapping of prototype names, never a 500", { timeout: 600_000 }, async () => {
		await fc.assert(
			fc.asyncProperty(mappingBody, async (m) => {
				const res = await admin(`/api/destinations/${d.id}/mapping`, { method: "PUT", json: m });
				const text = await res.text();
				expect([200, 400], text.slice(0, 300)).toContain(res.status);
				if (res.status !== 200) return;
				const { warnings: _w, remapped: _r, ...stored } = JSON.parse(text) as Record<string, unknown>;
				const read = await admin(`/api/destinations/${d.id}/mapping`);
				expect(read.status).toBe(200);
				expect(await read.json()).toEqual(stored);
			}),
			{ numRuns: Math.max(50, Math.floor(fuzzRuns() / 4)) },
		);
	});

	it("ingest answers 202 with the right counts for profiles keyed by prototype names, never a 500", { timeout: 600_000 }, async () => {
		let expectedReceived = 0;
		await fc.assert(
			fc.asyncProperty(plan, kinds, async (p, list) => {
				await putMapping(d.id, {
					identityNamespace: p.namespace,
					attributes: p.attributePath ? [{ source: p.attributePath, target: "firstName" }] : [],
					segments: p.mapped.map((segmentId, i) => ({ segmentId, mappingId: i + 1 })),
				});
				const built = list.map((k, i) => profileFor(p, k.kind, k.pick, 1 + i, k.ns));
				const res = await ingest(d.id, d.ingestToken, JSON.stringify(built.map((b) => b.profile)));
				const text = await res.text();
				expect(res.status, text.slice(0, 300)).toBe(202);
				const answer = JSON.parse(text) as { accepted: number; skipped: number; rejected: { index: number; error: string }[] };
				const count = (k: Kind) => built.filter((b) => b.kind === k).length;
				expect(answer.accepted, text.slice(0, 300)).toBe(count("accepted"));
				expect(answer.skipped, text.slice(0, 300)).toBe(count("skipped"));
				expect(answer.rejected.map((r) => r.index).sort(), text.slice(0, 300)).toEqual(
					built.flatMap((b, i) => (b.kind === "badStatus" || b.kind === "noIdentity" ? [i] : [])).sort(),
				);
				expectedReceived += built.length;
			}),
			{ numRuns: Math.max(50, Math.floor(fuzzRuns() / 4)) },
		);
		const totals = (await activity(d.id)).totals;
		expect(totals.received).toBe(expectedReceived);
		expectCountsAddUp(totals);
	});
});
