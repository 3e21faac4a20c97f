import { describe, expect, it } from "vitest";
import {
	auditWrites,
	compareRanks,
	newestVersions,
	rankOfAttribute,
	rankOfSegment,
	staleWrites,
	versionKey,
	type AppliedWrite,
	type Version,
} from "../../../scripts/bench/audit.ts";

/** A segment field's version: `qualifiedAt` is the lastQualificationTime, `observedAt` its arrival. */
const seg = (value: string, qualifiedAt: number, observedAt: number, prospectId = 7, field = "custom4"): Version => ({
	prospectId,
	field,
	value,
	rank: rankOfSegment({ qualifiedAt, observedAt, position: 0 }),
	arrivedAt: observedAt,
});
const attr = (value: string, observedAt: number, position = 0, prospectId = 7): Version => ({
	prospectId,
	field: "firstName",
	value,
	rank: rankOfAttribute({ observedAt, position }),
	arrivedAt: observedAt,
});
const write = (at: number, value: unknown, field = "custom4", prospectId = 7): AppliedWrite => ({ at, prospectId, field, value, via: "patch" });

describe("compareRanks", () => {
	it("orders numbers and lists left to right, a prefix first", () => {
		expect(compareRanks(1, 2)).toBeLessThan(0);
		expect(compareRanks([1, 5], [1, 4])).toBeGreaterThan(0);
		expect(compareRanks([1, 5], [1, 5])).toBe(0);
		expect(compareRanks([1], [1, 0])).toBeLessThan(0);
		expect(compareRanks(3, [3])).toBe(0);
	});
	it("ranks a segment by qualification time before arrival, an attribute by arrival", () => {
		expect(compareRanks(rankOfSegment({ qualifiedAt: 200, observedAt: 1, position: 0 }), rankOfSegment({ qualifiedAt: 100, observedAt: 9, position: 0 }))).toBeGreaterThan(0);
		expect(compareRanks(rankOfAttribute({ observedAt: 9, position: 0 }), rankOfAttribute({ observedAt: 1, position: 3 }))).toBeGreaterThan(0);
		// The same arrival: the position in the request decides.
		expect(compareRanks(rankOfAttribute({ observedAt: 5, position: 1 }), rankOfAttribute({ observedAt: 5, position: 2 }))).toBeLessThan(0);
		// No qualification time: observedAt stands in.
		expect(compareRanks(rankOfSegment({ observedAt: 50, position: 0 }), rankOfSegment({ qualifiedAt: 40, observedAt: 60, position: 0 }))).toBeGreaterThan(0);
	});
});

describe("auditWrites", () => {
	it("finds nothing in a correct sequence (repeats of the same version included)", () => {
		const versions = [seg("realized", 100, 1000), seg("exited", 200, 2000), attr("Ann", 1000), attr("Bea", 2000)];
		const writes = [write(1010, "realized"), write(1010, "Ann", "firstName"), write(2010, "exited"), write(2011, "exited"), write(2010, "Bea", "firstName")];
		expect(auditWrites(versions, writes)).toEqual({ stale: [], unknown: [] });
	});

	it("flags an older value written over a newer one, with what it overwrote", () => {
		const versions = [seg("realized", 100, 1000), seg("exited", 200, 2000)];
		const writes = [write(2100, "exited"), write(2200, "realized")];
		const { stale, unknown } = auditWrites(versions, writes);
		expect(unknown).toEqual([]);
		expect(stale).toEqual([
			{
				index: 1,
				at: 2200,
				prospectId: 7,
				field: "custom4",
				value: "realized",
				rank: rankOfSegment({ qualifiedAt: 100, observedAt: 1000, position: 0 }),
				newestApplied: rankOfSegment({ qualifiedAt: 200, observedAt: 2000, position: 0 }),
				newestAppliedValue: "exited",
				via: "patch",
			},
		]);
		expect(staleWrites(versions, writes)).toHaveLength(1);
	});

	it("orders segments by qualification time, not arrival: a later-qualified status that arrived first wins", () => {
		// The exit (qualified at 300) arrives before the realization (qualified at 200).
		const versions = [seg("exited", 300, 1000), seg("realized", 200, 2000)];
		expect(staleWrites(versions, [write(1100, "exited"), write(2100, "realized")])).toHaveLength(1);
		expect(staleWrites(versions, [write(1100, "exited")])).toEqual([]);
		// Written in the order of qualification time (the realization first) is fine, however late.
		expect(staleWrites(versions, [write(2100, "realized"), write(2200, "exited")])).toEqual([]);
	});

	it("orders attributes by arrival", () => {
		const versions = [attr("Ann", 1000), attr("Bea", 2000)];
		expect(staleWrites(versions, [write(2100, "Bea", "firstName"), write(2200, "Ann", "firstName")])).toHaveLength(1);
	});

	it("takes a repeated value as the newest version with that value that had arrived by then", () => {
		// realized (q 100) → exited (q 200) → realized again (q 300), arriving in that order.
		const versions = [seg("realized", 100, 1000), seg("exited", 200, 2000), seg("realized", 300, 3000)];
		// realized after exited, once the second realized has arrived: that is the newest realized, not stale.
		expect(auditWrites(versions, [write(1100, "realized"), write(2100, "exited"), write(3100, "realized")])).toEqual({ stale: [], unknown: [] });
		// …but before the second realized arrived, it can only be the first one: stale.
		const early = staleWrites(versions, [write(2100, "exited"), write(2500, "realized")]);
		expect(early).toHaveLength(1);
		expect(early[0]!.rank).toEqual(rankOfSegment({ qualifiedAt: 100, observedAt: 1000, position: 0 }));
	});

	it("reports a write before its version arrived as unknown, not stale", () => {
		const versions = [seg("realized", 100, 1000), seg("exited", 200, 2000)];
		const { stale, unknown } = auditWrites(versions, [write(1500, "exited")]);
		expect(stale).toEqual([]);
		expect(unknown).toEqual([{ index: 0, at: 1500, prospectId: 7, field: "custom4", value: "exited", arrivedLater: true, via: "patch" }]);
	});

	it("reports a value no version had, and a field no version named, as unknown", () => {
		const versions = [seg("realized", 100, 1000)];
		const { unknown } = auditWrites(versions, [write(1100, "Active"), write(1200, "x", "custom9"), write(1300, "realized", "custom4", 8)]);
		expect(unknown.map((u) => [u.index, u.arrivedLater])).toEqual([
			[0, false],
			[1, false],
			[2, false],
		]);
	});

	it("keeps fields and prospects apart, compares arrays as values, and keeps the newest applied after a stale write", () => {
		const versions: Version[] = [
			seg("realized", 100, 1000, 1),
			seg("exited", 200, 2000, 1),
			seg("exited", 100, 1000, 2),
			{ prospectId: 1, field: "emails", value: ["a@x.io"], rank: rankOfAttribute({ observedAt: 1000, position: 0 }), arrivedAt: 1000 },
			{ prospectId: 1, field: "emails", value: ["b@x.io"], rank: rankOfAttribute({ observedAt: 2000, position: 0 }), arrivedAt: 2000 },
		];
		const writes = [
			write(2100, "exited", "custom4", 1),
			write(2200, "realized", "custom4", 1), // stale
			write(2300, "realized", "custom4", 1), // still stale: exited (q 200) was applied
			write(2100, "exited", "custom4", 2),
			write(2100, ["b@x.io"], "emails", 1),
			write(2400, ["a@x.io"], "emails", 1), // stale
		];
		expect(staleWrites(versions, writes).map((s) => s.index)).toEqual([1, 2, 5]);
	});

	it("judges a write an import applied exactly as a PATCH's or a batch's, and says which import it was", () => {
		// Segment and attribute versions of one prospect; the second exit and Bea are the newest.
		const versions = [seg("realized", 100, 1000), seg("exited", 200, 2000), attr("Ann", 1000), attr("Bea", 2000)];
		const sequence: [number, unknown, string][] = [
			[2100, "exited", "custom4"],
			[2100, "Bea", "firstName"],
			[2200, "realized", "custom4"], // stale: an older status over the newer one
			[2300, "Ann", "firstName"], // stale: an earlier arrival over a later one
			[2400, "Cid", "firstName"], // unknown: no version had it
		];
		const carried = (via: (i: number) => Pick<AppliedWrite, "via" | "batchId" | "importId">) =>
			auditWrites(
				versions,
				sequence.map(([at, value, field], i) => ({ ...write(at, value, field), ...via(i) })),
			);
		const byPatch = carried(() => ({ via: "patch" }));
		const byImport = carried(() => ({ via: "import", importId: 9 }));
		// Alternating carriers: an import's older value over a PATCH's newer one, and the other way round.
		const mixed = carried((i) => (i % 2 ? { via: "import", importId: 3 } : i === 2 ? { via: "bulk", batchId: 4 } : { via: "patch" }));
		const verdicts = (a: ReturnType<typeof auditWrites>) => ({ stale: a.stale.map((w) => [w.index, w.rank, w.newestApplied]), unknown: a.unknown.map((w) => w.index) });
		expect(verdicts(byPatch)).toEqual({ stale: [[2, rankOfSegment({ qualifiedAt: 100, observedAt: 1000, position: 0 }), rankOfSegment({ qualifiedAt: 200, observedAt: 2000, position: 0 })], [3, rankOfAttribute({ observedAt: 1000, position: 0 }), rankOfAttribute({ observedAt: 2000, position: 0 })]], unknown: [4] });
		expect(verdicts(byImport)).toEqual(verdicts(byPatch));
		expect(verdicts(mixed)).toEqual(verdicts(byPatch));
		expect(byImport.stale.map((w) => [w.via, w.importId])).toEqual([
			["import", 9],
			["import", 9],
		]);
		expect(byImport.unknown[0]).toMatchObject({ via: "import", importId: 9 });
		expect(mixed.stale.map((w) => [w.via, w.batchId, w.importId])).toEqual([
			["bulk", 4, undefined],
			["import", undefined, 3],
		]);
	});

	it("newestVersions gives the value each field must end with", () => {
		const versions = [seg("exited", 300, 1000), seg("realized", 200, 2000), attr("Ann", 1000), attr("Bea", 2000)];
		const newest = newestVersions(versions);
		expect(newest.get(versionKey(7, "custom4"))!.value).toBe("exited");
		expect(newest.get(versionKey(7, "firstName"))!.value).toBe("Bea");
	});
});
