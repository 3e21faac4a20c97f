import fc from "fast-check";

/**
 * Generated ingest bodies for the fuzz tests: what AEP sends, and everything it should not — malformed JSON,
 * wrong types, huge strings, deep nesting, unicode, NDJSON with broken and blank lines, missing or odd
 * identities. Each body is text, as it travels.
 */

export const SEGMENTS = ["0c3f9a52-1b7e-4d2a-9c11-7a5e2f0b6d01", "seg-ünïcödé-✓", "x"];

/** The mapping the fuzzed destination uses: attributes of every kind of type, and three segments. */
export const FUZZ_MAPPING = {
	identityNamespace: "Oid",
	attributes: [
		{ source: "person.name.firstName", target: "firstName" },
		{ source: "personalEmail.address", target: "emails" },
		{ source: "person.birthDate", target: "dateOfBirth" },
		{ source: "extra.connections", target: "linkedInConnections" },
		{ source: "extra.score", target: "score" },
		{ source: "extra.optedOut", target: "optedOut" },
	],
	segments: SEGMENTS.map((segmentId, i) => ({ segmentId, mappingId: i + 1 })),
};

const unicode = fc.string({ unit: "grapheme", maxLength: 40 });
const binary = fc.string({ unit: "binary", maxLength: 40 });
/** Up to ~40 KB: longer than any attribute allows; a few of them fit INGEST_MAX_BYTES (256 KiB), more answer 413. */
const huge = fc.integer({ min: 300, max: 20_000 }).map((n) => "Ω".repeat(n));
const anyScalar = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), unicode, binary);

/** JSON nested `depth` levels deep (objects or arrays), as text: deeper than JSON.stringify can walk back. */
function deepJson(depth: number, arrays: boolean): string {
	return arrays ? `${"[".repeat(depth)}1${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}
const deep = fc.record({ depth: fc.integer({ min: 50, max: 20_000 }), arrays: fc.boolean() }).map(({ depth, arrays }) => deepJson(depth, arrays));

/**
 * A deeply nested value anywhere a value goes (an identity's id, a first name, a status…). Generated values
 * are serialized with JSON.stringify, which cannot walk that deep, so a marker stands in for it and
 * `withDeepValues` swaps the nested text in afterwards.
 */
const deepMarker = fc.record({ depth: fc.integer({ min: 2_000, max: 20_000 }), arrays: fc.boolean() }).map(({ depth, arrays }) => `§DEEP§${depth}§${arrays ? "a" : "o"}§`);
function withDeepValues(text: string): string {
	return text.replace(/"§DEEP§(\d+)§([ao])§"/g, (_m, depth: string, kind: string) => deepJson(Number(depth), kind === "a"));
}

const weird = fc.oneof(anyScalar, huge, fc.jsonValue({ maxDepth: 3 }), fc.array(anyScalar, { maxLength: 4 }), deepMarker);

const prospectId = fc.oneof(
	{ weight: 5, arbitrary: fc.integer({ min: 1, max: 10_000 }).map(String) },
	fc.integer({ min: 1, max: 10_000 }),
	fc.integer({ min: 1, max: 999 }).map((n) => `  ${n} `),
	fc.constantFrom("0", "-4", "4.5", "1e3", "0x10", "", " ", "٣", "9007199254740993", "12345678901234567890"),
	weird,
);

const identityEntry = fc.oneof(
	{ weight: 6, arbitrary: fc.record({ id: prospectId, primary: fc.boolean() }, { requiredKeys: ["id"] }) },
	weird,
);

const identityMap = fc.oneof(
	{ weight: 6, arbitrary: fc.record({ Oid: fc.array(identityEntry, { maxLength: 3 }), ecid: fc.array(fc.record({ id: unicode })) }, { requiredKeys: [] }) },
	fc.dictionary(unicode, fc.array(identityEntry, { maxLength: 2 }), { maxKeys: 3 }),
	weird,
);

const iso = fc.date({ min: new Date("2000-01-01"), max: new Date("2040-01-01"), noInvalidDate: true }).map((d) => d.toISOString());
const membership = fc.oneof(
	{ weight: 6, arbitrary: fc.record({ status: fc.constantFrom("realized", "existing", "exited"), lastQualificationTime: fc.oneof(iso, weird) }, { requiredKeys: ["status"] }) },
	fc.record({ status: fc.oneof(unicode, weird), lastQualificationTime: iso }),
	weird,
);
const segmentId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SEGMENTS) }, unicode);
const segmentMembership = fc.oneof(
	{ weight: 6, arbitrary: fc.record({ ups: fc.dictionary(segmentId, membership, { maxKeys: 4 }) }) },
	fc.dictionary(unicode, fc.dictionary(segmentId, membership, { maxKeys: 2 }), { maxKeys: 2 }),
	weird,
);

/** A profile-shaped object: each part well-formed most of the time, and anything at all the rest. */
const profile = fc.record(
	{
		person: fc.oneof(
			{ weight: 4, arbitrary: fc.record({ name: fc.record({ firstName: fc.oneof(unicode, huge, weird) }, { requiredKeys: [] }), birthDate: fc.oneof(iso.map((s) => s.slice(0, 10)), weird) }, { requiredKeys: [] }) },
			weird,
		),
		personalEmail: fc.oneof(fc.record({ address: fc.oneof(unicode, fc.array(unicode, { maxLength: 3 }), weird) }), weird),
		extra: fc.record({ connections: fc.oneof(fc.integer(), unicode, weird), score: fc.oneof(fc.double(), unicode), optedOut: fc.oneof(fc.boolean(), fc.constantFrom("true", "false"), weird) }, { requiredKeys: [] }),
		segmentMembership,
		identityMap,
	},
	{ requiredKeys: [] },
);

/** A profile as AEP sends it (unicode names, any mapped or unmapped segments), which the ingest should accept. */
const wellFormed = fc.record(
	{
		person: fc.record({ name: fc.record({ firstName: fc.string({ unit: "grapheme", maxLength: 60 }) }) }),
		personalEmail: fc.record({ address: fc.emailAddress() }),
		segmentMembership: fc.record({
			ups: fc.dictionary(segmentId, fc.record({ status: fc.constantFrom("realized", "existing", "exited"), lastQualificationTime: iso }), { minKeys: 1, maxKeys: 3 }),
		}),
		identityMap: fc.record({ Oid: fc.tuple(fc.integer({ min: 1, max: 10_000 }), fc.boolean()).map(([id, spaced]) => [{ id: spaced ? ` ${id} ` : String(id) }]) }),
	},
	{ requiredKeys: ["segmentMembership", "identityMap"] },
);

/** One JSON-encoded element of an array or NDJSON line: usually a profile, sometimes anything. */
const element = fc.oneof(
	{ weight: 6, arbitrary: wellFormed.map((p) => JSON.stringify(p)) },
	{ weight: 5, arbitrary: profile.map((p) => JSON.stringify(p)) },
	weird.map((v) => JSON.stringify(v)),
	deep,
);

/** A line that is not JSON: a random string, or a profile cut short. */
const brokenLine = fc.oneof(
	unicode.filter((s) => !s.includes("\n")),
	fc.tuple(profile, fc.nat()).map(([p, n]) => {
		const text = JSON.stringify(p);
		return text.slice(0, Math.max(1, n % text.length));
	}),
);
const blank = fc.constantFrom("", "   ", "\t", "\r");

export type FuzzBody = { text: string; contentType: string };

/** Every kind of body; `text` is what goes on the wire. */
export const body: fc.Arbitrary<FuzzBody> = fc
	.oneof(
		{ weight: 4, arbitrary: fc.array(element, { maxLength: 12 }).map((items) => `[${items.join(",")}]`) },
		{ weight: 3, arbitrary: fc.oneof(wellFormed, profile).map((p) => JSON.stringify(p)) },
		{
			weight: 4,
			arbitrary: fc
				.array(fc.oneof({ weight: 5, arbitrary: element }, brokenLine, blank), { minLength: 1, maxLength: 12 })
				.chain((lines) => fc.constantFrom("\n", "\r\n").map((eol) => lines.join(eol))),
		},
		// Malformed and wrong-typed bodies.
		unicode,
		binary,
		fc.constantFrom("", " ", "null", "true", "42", '"profile"', "[", "{", "{}", "[]", "[{}]", "\n\n", "[1,2,3]", "{\"identityMap\":"),
		fc.tuple(fc.array(element, { minLength: 1, maxLength: 5 }), fc.nat()).map(([items, n]) => {
			const text = `[${items.join(",")}]`;
			return text.slice(0, 1 + (n % text.length));
		}),
		deep,
	)
	.chain((text) => fc.constantFrom("application/json", "application/x-ndjson", "text/plain", "").map((contentType) => ({ text: withDeepValues(text), contentType })));

/**
 * How many profiles a body holds, per the ingest contract: a JSON array's elements, one object, or NDJSON's
 * non-blank lines; null when the body is none of those (the ingest answers 400).
 */
export function profilesIn(text: string): number | null {
	const trimmed = text.trim();
	if (!trimmed) return null;
	try {
		const value: unknown = JSON.parse(trimmed);
		if (Array.isArray(value)) return value.length;
		return value !== null && typeof value === "object" ? 1 : null;
	} catch {
		/* not one JSON document */
	}
	const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== "");
	if (lines.length < 2) return null;
	const readable = lines.filter((l) => {
		try {
			JSON.parse(l);
			return true;
		} catch {
			return false;
		}
	});
	return readable.length ? lines.length : null;
}
