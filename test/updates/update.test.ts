import { describe, expect, it } from "vitest";
import type { Mapping } from "../../src/destinations/mapping";
import { compareVersions, FieldUpdate, mapProfile, mergeUpdates, prospectIdOf, type Update } from "../../src/updates/update";

const SEG_A = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const SEG_B = "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
const mapping: Mapping = {
	identityNamespace: "Oid",
	attributes: [
		{ source: "person.name.firstName", target: "firstName" },
		{ source: "personalEmail.address", target: "emails" },
		{ source: "_tenant.score", target: "title" },
	],
	segments: [
		{ segmentId: SEG_A, mappingId: 4 },
		{ segmentId: SEG_B, mappingId: 7 },
	],
};
const ids = { id: "r:0", observedAt: 1000, seq: 0 };

function profile(extra: Record<string, unknown> = {}, oid: unknown = [{ id: "4211" }]) {
	return { identityMap: { Oid: oid }, ...extra };
}
const seg = (status: string, t = "2026-11-20T10:00:00Z") => ({ segmentMembership: { ups: { [SEG_A]: { status, lastQualificationTime: t } } } });

describe("mapping an AEP profile to a prospect update", () => {
	it("writes each mapped segment's status into custom<MappingId> and each mapped attribute", () => {
		const m = mapProfile(profile({ ...seg("realized"), person: { name: { firstName: "Ana" } } }), mapping, ids);
		expect(m.kind).toBe("accepted");
		if (m.kind !== "accepted") return;
		expect(m.update.prospectId).toBe(4211);
		expect(m.update.fields.custom4!.value).toBe("realized");
		expect(m.update.fields.firstName!.value).toBe("Ana");
		expect(m.segments).toEqual([{ segmentId: SEG_A, mappingId: 4 }]);
	});

	it("reads mapped segments from every segmentMembership namespace and ignores unmapped ones", () => {
		const m = mapProfile(
			profile({ segmentMembership: { ups: { other: { status: "realized" } }, custom: { [SEG_B]: { status: "exited" } } } }),
			mapping,
			ids,
		);
		expect(m.kind === "accepted" && m.update.fields).toEqual({ custom7: { value: "exited", v: [0, 1000, 1000, 0] } });
	});

	it("uses the destination's status words, and realized's word for existing when existing has none", () => {
		const words = { ...mapping, statusValues: { realized: "Active", exited: "Expired" } };
		const value = (status: string) => {
			const m = mapProfile(profile(seg(status)), words, ids);
			return m.kind === "accepted" ? m.update.fields.custom4!.value : null;
		};
		expect([value("realized"), value("existing"), value("exited")]).toEqual(["Active", "Active", "Expired"]);
	});

	it("versions a segment field by its mapping revision, then qualification time, then arrival", () => {
		const m = mapProfile(profile(seg("realized", "2026-11-20T10:00:00Z")), { ...mapping, revisions: { custom4: 2 } }, { id: "x", observedAt: 5, seq: 3 });
		expect(m.kind === "accepted" && m.update.fields.custom4!.v).toEqual([2, Date.parse("2026-11-20T10:00:00Z"), 5, 3]);
	});

	it("lets observedAt stand in for a missing qualification time, never 0", () => {
		const m = mapProfile(profile({ segmentMembership: { ups: { [SEG_A]: { status: "exited" } } } }), mapping, { id: "x", observedAt: 5_000, seq: 1 });
		expect(m.kind === "accepted" && m.update.fields.custom4!.v).toEqual([0, 5_000, 5_000, 1]);
	});

	it("sends a scalar mapped to a list attribute as a one-element list", () => {
		const m = mapProfile(profile({ personalEmail: { address: "ana@example.com" } }), mapping, ids);
		expect(m.kind === "accepted" && m.update.fields.emails!.value).toEqual(["ana@example.com"]);
	});

	it("writes numbers into string attributes as text", () => {
		const m = mapProfile(profile({ _tenant: { score: 42 } }), mapping, ids);
		expect(m.kind === "accepted" && m.update.fields.title!.value).toBe("42");
	});

	it("skips a profile that carries nothing mapped", () => {
		expect(mapProfile(profile({ segmentMembership: { ups: { other: { status: "realized" } } } }), mapping, ids)).toEqual({ kind: "skipped" });
	});

	it("rejects bad input with a reason naming the problem", () => {
		const reason = (p: unknown) => {
			const m = mapProfile(p, mapping, ids);
			return m.kind === "rejected" ? m.error : m.kind;
		};
		expect(reason([1, 2])).toMatch(/JSON object/);
		expect(reason({ ...seg("realized"), identityMap: { ecid: [{ id: "1" }] } })).toMatch(/no 'Oid' identity/);
		expect(reason(profile(seg("realized"), [{ id: "not-a-number" }]))).toMatch(/not-a-number.*not a positive integer/);
		expect(reason(profile(seg("realized"), [{ id: "-4" }]))).toMatch(/positive integer/);
		expect(reason(profile(seg("realized"), [{ id: "4.5" }]))).toMatch(/positive integer/);
		expect(reason(profile(seg("realized"), []))).toMatch(/non-empty list/);
		expect(reason(profile(seg("qualified")))).toMatch(/must be realized, existing or exited/);
		expect(reason(profile({ person: { name: { firstName: "x".repeat(256) } } }))).toMatch(/firstName.*longer than 255/);
		expect(reason(profile({ person: { name: { firstName: { nested: true } } } }))).toMatch(/firstName.*must be a string/);
	});
});

describe("the identity rule", () => {
	it("takes the entry marked primary, else the first, trimming spaces", () => {
		expect(prospectIdOf({ identityMap: { Oid: [{ id: "1" }, { id: " 42 ", primary: true }] } }, "Oid")).toBe(42);
		expect(prospectIdOf({ identityMap: { Oid: [{ id: " 7 " }, { id: "8" }] } }, "Oid")).toBe(7);
		expect(prospectIdOf({ identityMap: { Oid: [{ id: 9 }] } }, "Oid")).toBe(9);
	});
});

describe("merging updates for one prospect", () => {
	const u = (id: string, fields: Update["fields"]): Update => ({ id, prospectId: 1, fields });

	it("takes each field's highest version and supersedes updates that supply nothing", () => {
		const a = u("a", { custom4: { value: "realized", v: [0, 2, 1, 0] }, firstName: { value: "A", v: [0, 1, 1, 0] } });
		const b = u("b", { custom4: { value: "exited", v: [0, 3, 0, 0] } });
		const c = u("c", { custom4: { value: "realized", v: [0, 1, 9, 9] } });
		const { fields, owners, losers } = mergeUpdates([a, b, c]);
		expect(fields.custom4!.value).toBe("exited");
		expect(fields.firstName!.value).toBe("A");
		expect(owners.get("custom4")).toBe(b);
		expect(losers).toEqual([c]);
	});

	it("orders versions lexicographically, the mapping revision first", () => {
		expect(compareVersions([1, 0, 0, 0], [0, 9, 9, 9])).toBeGreaterThan(0);
		expect(compareVersions([0, 1, 2, 3], [0, 1, 2, 4])).toBeLessThan(0);
		expect(compareVersions([0, 1, 2, 3], [0, 1, 2, 3], "a", "a")).toBe(0);
	});

	it("never lets two distinct updates tie: the update id breaks what is left", () => {
		expect(compareVersions([0, 1, 2, 3], [0, 1, 2, 3], "a", "b")).toBeLessThan(0);
		expect(compareVersions([0, 1, 2, 3], [0, 1, 2, 3], "b", "a")).toBeGreaterThan(0);
		const a = u("a", { firstName: { value: "A", v: [0, 1, 1, 0] } });
		const b = u("b", { firstName: { value: "B", v: [0, 1, 1, 0] } });
		expect(mergeUpdates([b, a]).fields.firstName!.value).toBe("B");
		expect(mergeUpdates([a, b]).fields.firstName!.value).toBe("B");
	});

	it("reads a three-part version queued before mapping revisions as revision 0", () => {
		expect(FieldUpdate.parse({ value: "x", v: [0, 7, 1] }).v).toEqual([0, 7, 7, 1]);
		expect(FieldUpdate.parse({ value: "x", v: [5, 7, 1] }).v).toEqual([0, 5, 7, 1]);
	});
});
