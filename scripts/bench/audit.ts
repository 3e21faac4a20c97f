/**
 * The write audit: which of the field values Outreach applied (the local Outreach's `GET /__fake/writes`) set a
 * field to a value older, by the ordering contract (design.md, "Which value wins"), than one already applied
 * to it. Shared by the benchmark (its `staleWrites`) and the product's tests, which run it inside workerd: plain
 * TypeScript, no imports, no Node or Workers APIs.
 *
 * The caller lists every version it sent of each (prospect, field) with its rank under the contract and the
 * moment it arrived; `rankOfSegment` and `rankOfAttribute` build the ranks the contract defines. A write is
 * matched to the newest version with the written value that had arrived by the write's time (values repeat:
 * a segment status is one of a few words), so an audit never calls a write stale that some arrived version
 * could explain as current.
 */

/**
 * A version's place in the ordering contract: a number, or numbers compared left to right (a shorter list
 * that is a prefix of a longer one comes first). Only ranks of the same (prospect, field) are ever compared.
 */
export type Rank = number | readonly number[];

/** One value the load sent for one prospect field. */
export type Version = {
	prospectId: number;
	/** The Outreach attribute, e.g. `custom4`, `firstName`. */
	field: string;
	/** The value a correct destination writes for it (a segment's status word, the attribute's value). */
	value: unknown;
	/** Its rank by the ordering contract; higher is newer. */
	rank: Rank;
	/** When it reached the destination (epoch ms, the clock of the writes' `at`): no write of it can come earlier. */
	arrivedAt: number;
};

/**
 * One entry of `GET /__fake/writes`, in the order applied. How it was applied (`via` a PATCH, a bulk batch or
 * an import) never changes the verdict: a value is judged by the version it is, whatever carried it; `via`
 * and its batch or import only travel along into the findings, to say where to look.
 */
export type AppliedWrite = {
	at: number;
	prospectId: number;
	field: string;
	value: unknown;
	via?: string;
	batchId?: number;
	importId?: number;
};

/** Where a finding's write came from. */
type Origin = { via?: string; batchId?: number; importId?: number };

/** A write of an older value than one already applied to the field. */
export type StaleWrite = {
	/** Its position in the writes given. */
	index: number;
	at: number;
	prospectId: number;
	field: string;
	value: unknown;
	/** The rank of the newest version with that value that had arrived by then. */
	rank: Rank;
	/** The newest rank applied to the field before this write, and its value. */
	newestApplied: Rank;
	newestAppliedValue: unknown;
} & Origin;

/** A write of a value that no version of that field had by then (a wrong value, or written before it arrived). */
export type UnknownWrite = {
	index: number;
	at: number;
	prospectId: number;
	field: string;
	value: unknown;
	/** True when some version carries the value but arrived only after the write. */
	arrivedLater: boolean;
} & Origin;

export type Audit = { stale: StaleWrite[]; unknown: UnknownWrite[] };

/** Negative when a is older than b, positive when newer, 0 when equal. */
export function compareRanks(a: Rank, b: Rank): number {
	const x = typeof a === "number" ? [a] : a;
	const y = typeof b === "number" ? [b] : b;
	for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
	return x.length - y.length;
}

/**
 * A segment field's rank: the mapping revision (constant in a run that does not remap: leave it 0), the
 * segment's `lastQualificationTime` in epoch ms (`observedAt` stands in when it is absent), then `observedAt`,
 * the profile's position in its request, and an id that makes ties impossible (e.g. the request's number).
 */
export function rankOfSegment(v: { revision?: number; qualifiedAt?: number; observedAt: number; position: number; tieBreak?: number }): number[] {
	return [v.revision ?? 0, v.qualifiedAt ?? v.observedAt, v.observedAt, v.position, v.tieBreak ?? 0];
}

/** An attribute's rank: the mapping revision, `observedAt`, the position in its request, a tie-breaking id. */
export function rankOfAttribute(v: { revision?: number; observedAt: number; position: number; tieBreak?: number }): number[] {
	return [v.revision ?? 0, v.observedAt, v.position, v.tieBreak ?? 0];
}

/** Values compare as JSON (attributes such as `emails` are arrays). */
function sameValue(a: unknown, b: unknown): boolean {
	return a === b || JSON.stringify(a) === JSON.stringify(b);
}

export const versionKey = (prospectId: number, field: string): string => `${prospectId}\u0000${field}`;

/** The versions of each (prospect, field), oldest arrival first. */
function byKey(versions: Iterable<Version>): Map<string, Version[]> {
	const out = new Map<string, Version[]>();
	for (const v of versions) {
		const key = versionKey(v.prospectId, v.field);
		const list = out.get(key);
		if (list) list.push(v);
		else out.set(key, [v]);
	}
	for (const list of out.values()) list.sort((a, b) => a.arrivedAt - b.arrivedAt);
	return out;
}

/** The newest version of each (prospect, field): the value each field must end with. Keyed by `versionKey`. */
export function newestVersions(versions: Iterable<Version>): Map<string, Version> {
	const out = new Map<string, Version>();
	for (const v of versions) {
		const key = versionKey(v.prospectId, v.field);
		const cur = out.get(key);
		if (!cur || compareRanks(v.rank, cur.rank) > 0) out.set(key, v);
	}
	return out;
}

/**
 * Audits `writes` (in the order applied) against `versions`: the stale writes (an older value over a newer
 * one already applied) and the unknown ones (a value no version had by then). A write of the same version
 * again (a repeated PATCH) is neither. Writes to fields without any version are unknown.
 */
export function auditWrites(versions: Iterable<Version>, writes: readonly AppliedWrite[]): Audit {
	const known = byKey(versions);
	const newest = new Map<string, { rank: Rank; value: unknown }>();
	const stale: StaleWrite[] = [];
	const unknown: UnknownWrite[] = [];
	writes.forEach((w, index) => {
		const key = versionKey(w.prospectId, w.field);
		const where = {
			index,
			at: w.at,
			prospectId: w.prospectId,
			field: w.field,
			value: w.value,
			...(w.via === undefined ? {} : { via: w.via }),
			...(w.batchId === undefined ? {} : { batchId: w.batchId }),
			...(w.importId === undefined ? {} : { importId: w.importId }),
		};
		let match: Version | undefined;
		let arrivedLater = false;
		for (const v of known.get(key) ?? []) {
			if (!sameValue(v.value, w.value)) continue;
			if (v.arrivedAt > w.at) {
				arrivedLater = true;
				continue;
			}
			if (!match || compareRanks(v.rank, match.rank) > 0) match = v;
		}
		if (!match) {
			unknown.push({ ...where, arrivedLater });
			return;
		}
		const applied = newest.get(key);
		if (applied && compareRanks(match.rank, applied.rank) < 0) {
			stale.push({ ...where, rank: match.rank, newestApplied: applied.rank, newestAppliedValue: applied.value });
			return;
		}
		if (!applied || compareRanks(match.rank, applied.rank) > 0) newest.set(key, { rank: match.rank, value: match.value });
	});
	return { stale, unknown };
}

/** The stale writes alone (see `auditWrites`). */
export function staleWrites(versions: Iterable<Version>, writes: readonly AppliedWrite[]): StaleWrite[] {
	return auditWrites(versions, writes).stale;
}
