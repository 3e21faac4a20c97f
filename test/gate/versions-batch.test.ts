import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FieldVersions, lockKey, type FieldCheck, type FieldVersion, type VersionItem } from "../../src/gate/versions";
import type { Version } from "../../src/updates/update";
import { fuzzRuns } from "../suite-size";

/**
 * Versions are read once per batch, not once per call (issue 21): `checkMany` and the admission's batch
 * (`load`) read each table once for all their items, then decide each item in memory by the one rule. Driven on a
 * real gate's SQLite storage. The properties hold the batch to the item-by-item answers over random histories
 * (grants, settlements, erasures, revisions, slot joins), in tiny domains so that items collide on prospects,
 * fields and updates; the counts show the statements a batch takes do not grow with it.
 */

const DAY = 86_400_000;
const NOW = 100 * DAY;
const TABLES = ["versions", "field_revisions", "last_writes", "field_locks", "erased_prospects", "erased_updates", "slot_joins"];

const destination = fc.constantFrom("d1", "d2");
const prospect = fc.integer({ min: 1, max: 3 });
const fieldName = fc.constantFrom("a", "b", "c");
const version: fc.Arbitrary<FieldVersion> = fc.record({
	v: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1 })) as fc.Arbitrary<Version>,
	u: fc.constantFrom("u1", "u2", "u3"),
});
const fields = fc.dictionary(fieldName, version, { minKeys: 1, maxKeys: 3 });
const item: fc.Arbitrary<VersionItem> = fc.record({ destinationId: destination, prospectId: prospect, fields });

/** What a gate may hold before the batch: each step through the public methods that write it. */
const step = fc.oneof(
	fc.record({
		op: fc.constant("advance" as const),
		item,
		grantId: fc.integer({ min: 1, max: 4 }),
		// Two days ago: a version due to be touched when checked against.
		at: fc.constantFrom(NOW, NOW - 2 * DAY),
		leaseUntil: fc.constantFrom(NOW - 1, NOW, NOW + 5, NOW + 9),
	}),
	fc.record({ op: fc.constant("settle" as const), item, grantId: fc.integer({ min: 1, max: 4 }), delivered: fc.boolean(), known: fc.boolean() }),
	fc.record({ op: fc.constant("erase" as const), destinationId: destination, prospectId: prospect, at: fc.integer({ min: 0, max: 3 }), updateIds: fc.subarray(["u1", "u2", "u3"]) }),
	fc.record({ op: fc.constant("learn" as const), destinationId: destination, revisions: fc.dictionary(fieldName, fc.integer({ min: 0, max: 2 })) }),
	fc.record({ op: fc.constant("join" as const), reservation: fc.integer({ min: 1, max: 3 }), fields, until: fc.constantFrom(NOW - 1, NOW + 9) }),
);
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;
const history = fc.array(step, { maxLength: 12 });
const lockedBefore = fc.uniqueArray(fc.tuple(prospect, fieldName), { maxLength: 3, selector: ([p, f]) => lockKey(p, f) });

function replay(versions: FieldVersions, steps: Step[]): void {
	for (const s of steps) {
		if (s.op === "advance") versions.advance(s.item.destinationId, s.item.prospectId, s.item.fields, s.grantId, s.at, s.leaseUntil);
		else if (s.op === "settle") versions.settle(s.item.destinationId, s.item.prospectId, s.item.fields, s.grantId, { delivered: s.delivered, known: s.known });
		else if (s.op === "erase") versions.erase(s.destinationId, [s.prospectId], s.at, s.updateIds);
		else if (s.op === "learn") versions.learnRevisions(s.destinationId, s.revisions);
		else versions.join(s.reservation, s.fields, s.until);
	}
}

/** Every row of the versions' tables, in one order: what a run left behind. */
function dump(sql: SqlStorage): Record<string, unknown[]> {
	return Object.fromEntries(TABLES.map((t) => [t, sql.exec(`SELECT * FROM ${t} ORDER BY 1, 2, 3`).toArray()]));
}

/** Runs `fn` twice on the same history, each time on emptied tables, and answers what each run decided and left. */
function twice<T>(sql: SqlStorage, versions: FieldVersions, steps: Step[], runs: [() => T, () => T]): [{ out: T; rows: Record<string, unknown[]> }, { out: T; rows: Record<string, unknown[]> }] {
	return runs.map((run) => {
		for (const t of TABLES) sql.exec(`DELETE FROM ${t}`);
		replay(versions, steps);
		const out = run();
		return { out, rows: dump(sql) };
	}) as [{ out: T; rows: Record<string, unknown[]> }, { out: T; rows: Record<string, unknown[]> }];
}

/** What the admission does with a fresh answer: the fields it takes are locked for the items after it. */
const takeFresh = (lockedNow: Set<string>, it: VersionItem, check: FieldCheck) => {
	if (check.kind === "fresh") for (const f of check.fields) lockedNow.add(lockKey(it.prospectId, f));
};

function inGate<T>(fn: (versions: FieldVersions, sql: SqlStorage, storage: DurableObjectStorage) => T): Promise<T> {
	return runInDurableObject(env.GATE.getByName(`versions-batch-${crypto.randomUUID()}`), (_i, state) => fn(new FieldVersions(state.storage), state.storage.sql, state.storage));
}

describe("checkMany", () => {
	it("answers, for any history and batch, exactly what check answers item by item in order, and leaves the same rows", async () => {
		await inGate((versions, sql) =>
			fc.assert(
				fc.property(history, fc.array(item, { maxLength: 12 }), lockedBefore, (steps, items, locked) => {
					const [one, many] = twice(sql, versions, steps, [
						() => {
							const lockedNow = new Set(locked.map(([p, f]) => lockKey(p, f)));
							return items.map((it) => {
								const check = versions.check(it.destinationId, it.prospectId, it.fields, NOW, lockedNow);
								takeFresh(lockedNow, it, check);
								return check;
							});
						},
						() => {
							const lockedNow = new Set(locked.map(([p, f]) => lockKey(p, f)));
							return versions.checkMany(items, NOW, lockedNow, (check, i) => takeFresh(lockedNow, items[i]!, check));
						},
					]);
					expect(many.out).toEqual(one.out);
					expect(many.rows).toEqual(one.rows);
				}),
				{ numRuns: fuzzRuns() },
			),
		);
	});

	it("answers as check does for a batch larger than one statement's keys (chunked)", async () => {
		await inGate((versions) => {
			// 5,500 prospects (of one destination each): more keys than one statement binds.
			const items: VersionItem[] = Array.from({ length: 6_000 }, (_, i) => ({
				destinationId: i % 2 ? "d1" : "d2",
				prospectId: 1 + (i % 5_500),
				fields: { a: { v: [0, 1, 1 + (i % 3), 0], u: `u${i}` } },
			}));
			// Every third prospect already holds a newer version, every fifth is erased, every seventh is locked.
			versions.advanceMany(
				items.filter((_, i) => i % 3 === 0).map((it, k) => ({ ...it, fields: { a: { v: [0, 1, 2, 0], u: "z" } }, grantId: k, leaseUntil: k % 7 ? NOW - 1 : NOW + 5 })),
				NOW - 2 * DAY,
			);
			for (const it of items.filter((_, i) => i % 5 === 0)) versions.erase(it.destinationId, [it.prospectId], 1);
			const each = items.map((it) => versions.check(it.destinationId, it.prospectId, it.fields, NOW));
			expect(versions.checkMany(items, NOW)).toEqual(each);
			expect(new Set(each.map((c) => c.kind))).toEqual(new Set(["fresh", "stale", "busy"]));
		});
	});
});

describe("the admission's batch", () => {
	it("learns revisions, finds overtaken and joined slots, and checks, as the same questions asked one by one", async () => {
		const call = fc.record({
			item,
			learn: fc.dictionary(fieldName, fc.integer({ min: 0, max: 2 }), { maxKeys: 2 }),
			slot: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
		});
		await inGate((versions, sql) =>
			fc.assert(
				fc.property(history, fc.array(call, { maxLength: 10 }), lockedBefore, (steps, calls, locked) => {
					type Answer = { overtaken: boolean } | { check: FieldCheck; joined?: boolean };
					// As Gate.admit asked before batches: each question read what it needed when it was asked.
					const oneByOne = (): Answer[] => {
						const lockedNow = new Set(locked.map(([p, f]) => lockKey(p, f)));
						return calls.map(({ item: it, learn, slot }) => {
							versions.learnRevisions(it.destinationId, learn);
							if (slot !== undefined && versions.load([], NOW, [slot]).overtaken(slot, it.fields)) return { overtaken: true };
							const check = versions.check(it.destinationId, it.prospectId, it.fields, NOW, lockedNow);
							takeFresh(lockedNow, it, check);
							return slot === undefined ? { check } : { check, joined: versions.load([], NOW, [slot]).joined(slot) };
						});
					};
					const batched = (): Answer[] => {
						const lockedNow = new Set(locked.map(([p, f]) => lockKey(p, f)));
						const batch = versions.load(
							calls.map((c) => c.item),
							NOW,
							calls.flatMap((c) => (c.slot === undefined ? [] : [c.slot])),
						);
						const answers = calls.map(({ item: it, learn, slot }): Answer => {
							batch.learnRevisions(it.destinationId, learn);
							if (slot !== undefined && batch.overtaken(slot, it.fields)) return { overtaken: true };
							const check = batch.check(it, lockedNow);
							takeFresh(lockedNow, it, check);
							return slot === undefined ? { check } : { check, joined: batch.joined(slot) };
						});
						batch.finish();
						return answers;
					};
					const [one, many] = twice(sql, versions, steps, [oneByOne, batched]);
					expect(many.out).toEqual(one.out);
					expect(many.rows).toEqual(one.rows);
				}),
				{ numRuns: fuzzRuns() },
			),
		);
	});
});

/** A FieldVersions whose storage counts the SQL statements it is asked to run. */
function counted(storage: DurableObjectStorage): { versions: FieldVersions; statements: () => number; reset: () => void } {
	let n = 0;
	const sql = new Proxy(storage.sql, {
		get(target, prop) {
			if (prop === "exec")
				return (query: string, ...bindings: SqlStorageValue[]) => {
					n++;
					return target.exec(query, ...bindings);
				};
			const value = Reflect.get(target, prop, target) as unknown;
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	const versions = new FieldVersions({ sql } as DurableObjectStorage);
	return { versions, statements: () => n, reset: () => (n = 0) };
}

describe("the statements a batch of calls takes", () => {
	it("are a handful whatever the batch's size: checks, grants and settlements of 10, 100 or 1,000 calls", async () => {
		await inGate((_v, _sql, storage) => {
			const { versions, statements, reset } = counted(storage);
			/** The statements one batch of `n` calls (three fields each) takes to be checked, granted and settled. */
			const batchOf = (n: number, base: number) => {
				const calls: VersionItem[] = Array.from({ length: n }, (_, i) => ({
					destinationId: i % 2 ? "d1" : "d2",
					prospectId: base + i,
					fields: Object.fromEntries(["a", "b", "c"].map((f) => [f, { v: [1, 5, 5, 0] as Version, u: `u${base + i}` }])),
				}));
				// A history that takes every branch: versions two days old, one newer (touched when checked) and one older
				// (locked in a call of four), an erased prospect (its erased updates asked), revisions.
				versions.advanceMany(
					calls.map((c, i) => ({
						...c,
						fields: { a: { v: [1, 9, 9, 0], u: "old" }, b: { v: [1, 1, 1, 0], u: "old" } },
						grantId: i,
						leaseUntil: i % 4 ? NOW - 1 : NOW + 5,
					})),
					NOW - 2 * DAY,
				);
				versions.erase("d1", [base + 1], 3, ["u-gone"]);
				versions.learnRevisions("d2", { c: 2 });
				reset();
				const lockedNow = new Set<string>();
				const checks = versions.checkMany(calls, NOW, lockedNow, (check, i) => takeFresh(lockedNow, calls[i]!, check));
				const checking = statements();
				expect(new Set(checks.map((c) => c.kind))).toEqual(new Set(["fresh", "busy"]));
				reset();
				versions.advanceMany(
					calls.map((c, i) => ({ ...c, grantId: 10_000 + i, leaseUntil: NOW + 5 })),
					NOW,
				);
				const granting = statements();
				reset();
				versions.settleMany(calls.map((c, i) => ({ ...c, grantId: 10_000 + i, outcome: { delivered: true, known: true } })));
				const settling = statements();
				return { checking, granting, settling };
			};
			const sizes = [10, 100, 1_000].map((n, k) => batchOf(n, 1_000_000 * (k + 1)));
			for (const s of sizes) expect(s).toEqual(sizes[0]);
			// versions, last_writes, field_locks, field_revisions, erased_prospects, erased_updates; the touches.
			expect(sizes[0]!.checking).toBeLessThanOrEqual(7);
			expect(sizes[0]!.granting).toBe(3);
			expect(sizes[0]!.settling).toBe(2);

			// The counter sees what one call at a time costs: at least one statement per table for each call.
			const calls = Array.from({ length: 100 }, (_, i) => ({ destinationId: "d1", prospectId: 5_000_000 + i, fields: { a: { v: [1, 5, 5, 0] as Version, u: "x" } } }));
			reset();
			for (const c of calls) versions.check(c.destinationId, c.prospectId, c.fields, NOW);
			expect(statements()).toBeGreaterThanOrEqual(5 * calls.length);
		});
	});
});
