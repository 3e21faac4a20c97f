import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ledgerStub, type Ledger } from "../../src/ledger/ledger";
import { auditHooks } from "../helpers/audit";
import { adminJson, createConnectedDestination, resetOutreach } from "../helpers/control";
import { activity, ingestOk, putMapping, settled } from "../helpers/data";
import { bareLedger } from "../helpers/ledger";

/**
 * The ledger at a million rows (issue 21, "Scale, measured once"): nothing a request or the alarm asks of it
 * reads the `updates` table whole, or every row of a state that can hold the whole back-fill (pending,
 * delivered). Each statement the ledger runs for activity, failures, replay, a trace, an erasure, pruning and
 * its alarm is recorded as it runs and its query plan read back from SQLite: every access to `updates` must
 * be one of the bounded paths below. Plans do not depend on how many rows there are, so a few rows show them.
 */

/** Access paths that read in proportion to what is asked, not to the ledger. */
const BOUNDED: RegExp[] = [
	// One row, by its id or rowid.
	/^SEARCH updates USING (COVERING )?INDEX sqlite_autoindex_updates_1 \(id=\?\)$/,
	/^SEARCH updates USING INTEGER PRIMARY KEY \(rowid=\?\)$/,
	// One prospect's rows (trace, erasure).
	/^SEARCH updates USING (COVERING )?INDEX updates_prospect \(prospect_id=\?\)$/,
	// The rows that ever failed, in the order listed, up to the page's LIMIT.
	/^SEARCH updates USING (COVERING )?INDEX updates_failures \(first_failed_at>\?\)$/,
	// The oldest waiting row (MIN reads one entry); the outbox's due rows, a page at a time.
	/^SEARCH updates USING (COVERING )?INDEX updates_waiting$/,
	/^SEARCH updates USING (COVERING )?INDEX updates_outbox \(send_at[<>]\?\)$/,
	// Held work (what a release hands over anyway).
	/^SEARCH updates USING (COVERING )?INDEX updates_hold \(hold=\?\)$/,
	// Finished rows received before the retention cutoff (pruning, a page at a time).
	/^SEARCH updates USING (COVERING )?INDEX updates_state \(state=\? AND received_at<\?\)$/,
];

type Recorded = { query: string; bindings: unknown[] };

/** Runs `work` on the ledger's own instance with its SQL recorded, and answers each statement on `updates` or `counts` with its plan. */
async function plansOf(ledger: DurableObjectStub<Ledger>, work: (instance: Ledger) => Promise<void> | void) {
	return runInDurableObject(ledger, async (instance, state) => {
		const real = state.storage.sql;
		const recorded: Recorded[] = [];
		const recording = new Proxy(real, {
			get(target, key) {
				if (key === "exec")
					return (query: string, ...bindings: unknown[]) => {
						recorded.push({ query, bindings });
						return target.exec(query, ...bindings);
					};
				const value = Reflect.get(target, key) as unknown;
				return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
			},
		});
		const internals = instance as unknown as { sql: SqlStorage; outboxCache?: unknown };
		internals.sql = recording;
		internals.outboxCache = undefined;
		try {
			await work(instance);
		} finally {
			internals.sql = real;
			internals.outboxCache = undefined;
		}
		return recorded
			.filter((r) => /\b(FROM|INTO|UPDATE)\s+(updates|counts)\b/i.test(r.query))
			.map((r) => ({
				query: r.query.replace(/\s+/g, " ").trim(),
				plan: real
					.exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${r.query}`, ...r.bindings)
					.toArray()
					.map((p) => p.detail),
			}));
	});
}

/** The plan lines that read more than a bounded part of `updates`, or all of `counts`. */
function unbounded(plans: { query: string; plan: string[] }[]): string[] {
	const bad: string[] = [];
	for (const { query, plan } of plans)
		for (const line of plan) {
			// A LIMIT 1 probe stops at its first entry whatever it scans.
			const probe = /\bLIMIT 1$/.test(query);
			if (/^(SCAN|SEARCH) updates\b/.test(line) && !BOUNDED.some((b) => b.test(line)) && !(probe && /^SCAN updates\b/.test(line))) bad.push(`${line}   ← ${query}`);
			if (/^SCAN counts\b/.test(line)) bad.push(`${line}   ← ${query}`);
		}
	return bad;
}

describe("the ledger at scale", () => {
	it("answers activity, failures, replay, traces, erasures, pruning and its alarm without reading the ledger whole", async () => {
		const { id, ledger } = await bareLedger("scale-");
		const now = Date.now();
		await runInDurableObject(ledger, (_instance, state) => {
			// A few rows in each state (the plans are the same at a million).
			const insert = (uid: string, prospect: number, st: string, firstFailedAt: number | null, hold: string | null = null) =>
				state.storage.sql.exec(
					`INSERT INTO updates (id, request_id, prospect_id, state, hour, received_at, updated_at, segments, source, first_failed_at, hold, reason, failed_fields)
					 VALUES (?, 'r', ?, ?, 0, ?, ?, '[]', ?, ?, ?, 'refused', '["firstName"]')`,
					uid,
					prospect,
					st,
					now - 1000,
					now - 1000,
					JSON.stringify({ prospectId: prospect, observedAt: now - 1000, seq: 0, segments: {}, attributes: { "person.name.firstName": "Scale" } }),
					firstFailedAt,
					hold,
				);
			insert("r:0", 7, "delivered", null);
			insert("r:1", 7, "failed", now - 500);
			insert("r:2", 8, "pending", null, "paused");
			insert("r:3", 9, "pending", null);
		});
		const plans = await plansOf(ledger, async (l) => {
			l.activity(now);
			l.waiting();
			expect(l.failures().map((f) => f.id)).toEqual(["r:1"]);
			await l.replay(id, [], now);
			await l.replay(id, ["r:1"], now);
			expect((await l.prospectTrace(id, 7))?.fields.length).toBeGreaterThan(0);
			await l.eraseProspects(id, [9]);
			l.prune(now + 400 * 86_400_000);
			await l.alarm();
		});
		expect(plans.length).toBeGreaterThan(10);
		expect(unbounded(plans), "statements that read the ledger whole (or a whole state of it)").toEqual([]);
	});
});

describe("the backlog a destination adds to its Outreach user's", () => {
	auditHooks();
	beforeEach(async () => {
		await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
	});

	it("comes from the running counts and is always the updates pending and not held", { timeout: 90_000 }, async () => {
		const d = await createConnectedDestination({ name: "Backlog" });
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: false } });
		const people = Array.from({ length: 150 }, (_, i) => ({ person: { name: { firstName: `Backlog ${i}` } }, identityMap: { Oid: [{ id: String(6100 + i) }] } }));
		for (let i = 0; i < people.length; i += 50) await ingestOk(d.id, d.ingestToken, people.slice(i, i + 50));
		const ledger = ledgerStub(env, d.id);
		/** The running count against the rows, read in one turn of the ledger (nothing can change between them). */
		const both = () =>
			runInDurableObject(ledger, (instance, state) => ({
				counted: instance.waiting(),
				rows: state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM updates WHERE state = 'pending' AND hold IS NULL`).one().n,
			}));
		await vi.waitUntil(async () => (await activity(d.id)).totals.held === 150, { timeout: 30_000, interval: 250 });
		expect(await both()).toEqual({ counted: 0, rows: 0 });
		expect((await activity(d.id)).backlog.pending).toBe(0);

		// Resumed: the 150 are released past a window's budget of 100, so some wait while the rest go.
		await adminJson(`/api/destinations/${d.id}`, { method: "PATCH", json: { enabled: true } });
		const seen: { counted: number; rows: number }[] = [];
		await vi.waitUntil(
			async () => {
				const b = await both();
				seen.push(b);
				return b.rows === 0 && (await activity(d.id)).totals.pending === 0;
			},
			{ timeout: 60_000, interval: 100 },
		);
		expect(seen.filter((b) => b.counted !== b.rows)).toEqual([]);
		expect(seen.some((b) => b.rows > 0), "the backlog was seen non-empty at least once").toBe(true);
		expect((await settled(d.id)).totals).toMatchObject({ received: 150, delivered: 150, held: 0, pending: 0 });
	});
});
