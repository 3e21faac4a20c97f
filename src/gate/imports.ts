import { log } from "../platform/log";
import { count } from "../platform/metrics";
import { bulkUpsert, getImport, importFinished, type ImportRecord, type OutreachImport } from "../outreach/imports";
import { classifyBulk } from "../outreach/outcome";
import { REFUSED_FALLBACK_MS } from "./bulk";
import { assumedPerMs, OutreachEngine, outreachTime } from "./engine";
import { fieldOf, settleItems, type BulkItems, type ItemRow } from "./items";
import { groupReady } from "./path";
import { BulkSender, byDestination, type SenderParts } from "./sender";
import { lockKey } from "./versions";

/**
 * Records delivered through Outreach's imports (`bulkUpsert`, reference/outreach-bulk.md §imports), inside the
 * gate: the updates it took `via` import (./items.ts) become one record per prospect carrying all of that
 * prospect's waiting fields, attributes and segment statuses alike, and go in imports of at most
 * OUTREACH_IMPORT_MAX_RECORDS records (halved when Outreach says an import is too large), with
 * `overwriteNoCreate`, so no prospect is ever created.
 *
 * - Every import request and poll is one call of the same budget as the PATCHes.
 * - Its fields stay locked under a lease until the import is known finished; the lease is renewed while the
 *   user's imports make progress (Outreach works through an org's imports one after another, so a queued import
 *   shows none of its own). An import that makes none for a lease is given up: imports cannot be cancelled, so
 *   its records go by PATCH at the same versions and the destination delivers by PATCH for a while.
 * - Failed records: Outreach may say only how many failed. Then the import's records are split in two and each
 *   half imported again, the halves without failures delivered, until a part is small or wholly failed; those go
 *   by PATCH, whose answer names each failure's reason. With k failures among n records this costs about
 *   2k·log2(n/k) imports (and their polls) instead of n PATCHes. When Outreach lists the failed records, they
 *   fail at once with its reason.
 */

type ImportRow = {
	id: number;
	owner: string;
	grant_id: number;
	started_at: number;
	lease_until: number;
	next_poll_at: number;
	/** What the last poll saw (`state@updatedAt`): a change is progress. */
	seen: string;
	last_progress_at: number;
	total: number;
};

/** Outreach's pace for imports is unpublished; the local Outreach's pessimistic default, on the configured clock. */
const ASSUMED_RECORDS_PER_SECOND = 100;
/** A part this small (or wholly failed) goes by PATCH rather than being split again. */
const PATCH_PART_RECORDS = 4;

export class BulkImports extends BulkSender {
	constructor(storage: DurableObjectStorage, env: Env, parts: SenderParts) {
		super(storage, env, parts);
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS imports_running (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, grant_id INTEGER NOT NULL, started_at INTEGER NOT NULL,
				lease_until INTEGER NOT NULL, next_poll_at INTEGER NOT NULL, seen TEXT NOT NULL, last_progress_at INTEGER NOT NULL, total INTEGER NOT NULL);
		`);
	}

	/** Outreach's engine for this user's imports. */
	private get engine(): OutreachEngine {
		return new OutreachEngine(this.storage.kv, "engine.import", assumedPerMs(ASSUMED_RECORDS_PER_SECOND, this.cfg));
	}

	/** Records per import: OUTREACH_IMPORT_MAX_RECORDS, halved each time Outreach answered that an import was too large. */
	private get maxRecords(): number {
		return this.sizeLimit("imports.maxRecords", this.cfg.OUTREACH_IMPORT_MAX_RECORDS);
	}

	// ─── sending ───

	protected async send(now: number): Promise<number | null> {
		// The oldest few imports' worth at a time: a back-fill's backlog is read in slices, not whole at every alarm.
		const waiting = this.parts.items.waiting("import", 20 * this.maxRecords);
		if (waiting.length === 0) return null;
		let comeBack: number | null = this.takeComeBack();
		const soonest = (t: number | null) => t !== null && (comeBack = comeBack === null ? t : Math.min(comeBack, t));

		// Parts of an import whose failed records are being found go as they are, at once.
		const parts = new Map<string, ItemRow[]>();
		const fresh: ItemRow[] = [];
		for (const i of waiting) if (i.part) (parts.get(i.part) ?? parts.set(i.part, []).get(i.part)!).push(i);
		for (const items of parts.values()) {
			const { sendable, busyUntil } = this.checked(items, now);
			soonest(busyUntil);
			const outcome = sendable.length ? await this.sendRecords(sendable) : "sent";
			soonest(this.takeComeBack());
			if (typeof outcome === "number") soonest(outcome);
			else if (outcome === "too_large") soonest(Date.now()); // the same part again, fewer records at a time
		}

		const { sendable, busyUntil } = this.checked(this.newestOnly(waiting.filter((i) => !i.part)), now);
		soonest(busyUntil);
		fresh.push(...sendable);
		if (fresh.length === 0) return comeBack;
		const byProspect = new Map<number, ItemRow[]>();
		for (const i of fresh) (byProspect.get(i.prospect_id) ?? byProspect.set(i.prospect_id, []).get(i.prospect_id)!).push(i);
		const records = [...byProspect.values()];
		const running = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM imports_running`).one().n > 0;
		const freeAt = this.engine.freeAt(now);
		let start = 0;
		while (start < records.length) {
			const max = this.maxRecords;
			const chunk = records.slice(start, start + max);
			// A full import goes now; the last, partial one waits only while it is still filling (and our imports keep the engine busy).
			if (chunk.length < max) {
				const oldestAt = Math.min(...chunk.flat().map((i) => i.queued_at));
				const ready = groupReady(
					{ size: chunk.length, max, oldestAt, newestAt: Math.max(...chunk.flat().map((i) => i.queued_at)) },
					now,
					this.cfg.OUTREACH_RATE_WINDOW_SECONDS,
					running ? { freeAt, holdUntil: oldestAt + this.leaseMs } : undefined,
				);
				if (ready !== true) {
					soonest(ready);
					break;
				}
			}
			const outcome = await this.sendRecords(chunk.flat());
			soonest(this.takeComeBack());
			if (outcome === "too_large") continue; // maxRecords was halved: the same records, fewer at a time
			start += chunk.length;
			if (typeof outcome === "number") {
				soonest(outcome);
				break;
			}
		}
		return comeBack;
	}

	/**
	 * One import of the records these writes make. Answers "sent" (an import runs, or its writes were decided),
	 * "too_large" (halved: send again), or a time to come back (budget, 429, transient trouble).
	 */
	private async sendRecords(chunk: ItemRow[]): Promise<"sent" | "too_large" | number> {
		const groups = byDestination(chunk);
		const access = await this.tokenFor(groups);
		if (access && "retryAt" in access) return access.retryAt;
		if (!access) return "sent";
		const { owner, token } = access;
		// Checked again now, in the same synchronous step as the grant and the locks: while earlier imports were
		// sent, the gate may have granted a newer write of one of these fields.
		const { sendable: live, busyUntil } = this.checked(chunk.filter((i) => !this.parts.items.isDecided(i.id)), Date.now());
		if (busyUntil !== null) this.comeBackAt(busyUntil);
		if (live.length === 0) return "sent";
		const call = this.oneCall();
		if ("at" in call) return call.at;
		const grantId = call.grantId;
		const leaseUntil = Date.now() + this.leaseMs;
		this.parts.versions.advanceMany(live.map((i) => ({ destinationId: i.destination_id, prospectId: i.prospect_id, fields: fieldOf(i), grantId: grantId, leaseUntil: leaseUntil })), Date.now());
		this.parts.items.sending(live, grantId);
		const records = recordsOf(live);
		count("importCalls");
		const { res, imp } = await bulkUpsert(this.cfg.OUTREACH_API_BASE, token, records, this.timeoutMs);
		this.spent(grantId, res);
		let outcome = classifyBulk(res);
		// Too large only when Outreach points at the records and there is more than one to split: a 422 about a
		// record's content ("at most 255 characters") is no reason to send fewer records at a time.
		if (outcome.kind === "too_large" && (records.length <= 1 || !res.errors.some((e) => e.source?.pointer === "/data/attributes/records")))
			outcome = { kind: "refused", reason: outcome.reason };
		const release = () => {
			settleItems(this.parts.versions, live, grantId, { delivered: false, known: true });
		};
		switch (outcome.kind) {
			case "ok": {
				if (!imp) {
					// Started, but its import cannot be read: its fields stay locked until the lease ends, then PATCH.
					settleItems(this.parts.versions, live, grantId, { delivered: false, known: false });
					this.parts.items.decide(live, "patch", "Outreach's answer to an import could not be read");
					return "sent";
				}
				const now = Date.now();
				const engine = this.engine;
				const doneAt = engine.sent(records.length, now);
				this.sql.exec(
					`INSERT OR REPLACE INTO imports_running (id, owner, grant_id, started_at, lease_until, next_poll_at, seen, last_progress_at, total)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					imp.id,
					owner,
					grantId,
					now,
					leaseUntil,
					this.firstLookAt(doneAt, now, now, leaseUntil),
					seenOf(imp),
					now,
					records.length,
				);
				this.parts.items.runningIn(live, imp.id);
				log("info", "import_started", {
					importId: imp.id,
					records: records.length,
					destinations: groups.size,
					enginePerSecond: Math.round(engine.perMs * 1000),
					doneInMs: Math.round(doneAt - now),
				});
				return "sent";
			}
			case "too_large": {
				release();
				this.parts.items.backToWaiting(live, live[0]!.part);
				const halved = this.halveSizeLimit("imports.maxRecords", this.cfg.OUTREACH_IMPORT_MAX_RECORDS, records.length);
				log("warn", "import_too_large", { records: records.length, nowAtMost: halved });
				return "too_large";
			}
			case "refused":
				release();
				this.parts.items.fallBack("import", groups.keys(), `Outreach refused an import (${outcome.reason}); records go by PATCH`, Date.now() + REFUSED_FALLBACK_MS);
				this.parts.items.decide(live, "patch", outcome.reason);
				return "sent";
			case "quota":
				release();
				// The imports' own quota, not the hourly limit: every import of this user goes by PATCH until it renews.
				this.parts.items.fallBack(
					"import",
					new Set([...groups.keys(), ...this.parts.items.destinations()]),
					`Outreach's daily import quota is used up (${outcome.reason}); records go by PATCH`,
					outcome.until,
				);
				this.parts.items.decide(live, "patch", outcome.reason);
				return "sent";
			case "rate_limited":
				release();
				this.parts.budget().pause(outcome.until);
				this.parts.items.backToWaiting(live, live[0]!.part);
				return outcome.until;
			case "refresh":
				release();
				await this.parts.tokens.accessToken(owner, token);
				this.parts.items.backToWaiting(live, live[0]!.part);
				return Date.now() + 1_000;
			case "transient":
				// The request may or may not have started an import: its fields stay locked until the lease ends.
				settleItems(this.parts.versions, live, grantId, { delivered: false, known: false });
				this.parts.items.backToWaiting(live, live[0]!.part);
				return leaseUntil;
		}
	}

	// ─── polling ───

	protected async poll(now: number): Promise<number | null> {
		const rows = this.sql.exec<ImportRow>(`SELECT * FROM imports_running ORDER BY next_poll_at`).toArray();
		let comeBack: number | null = null;
		for (const row of rows) {
			const next = row.next_poll_at > now ? row.next_poll_at : await this.pollOne(row);
			if (next !== null) comeBack = comeBack === null ? next : Math.min(comeBack, next);
		}
		return comeBack;
	}

	/** Keeps an import's fields locked until `until` (never shortens the lease). */
	private renewLease(row: ImportRow, until: number): void {
		if (until <= row.lease_until) return;
		this.parts.versions.renew(row.grant_id, until);
		this.sql.exec(`UPDATE imports_running SET lease_until = ? WHERE id = ?`, until, row.id);
		row.lease_until = until;
	}

	private reschedule(row: ImportRow, at: number): number {
		this.sql.exec(`UPDATE imports_running SET next_poll_at = ? WHERE id = ?`, at, row.id);
		return at;
	}

	private async pollOne(row: ImportRow): Promise<number | null> {
		const access = await this.parts.tokens.accessToken(row.owner);
		if (!access.ok) {
			if (row.lease_until <= Date.now()) return this.abandon(row, `the connection cannot read the import (${access.reason})`);
			return this.reschedule(row, Math.min(row.lease_until, Date.now() + 5_000));
		}
		const call = this.oneCall();
		if ("at" in call) {
			// No call to look with yet: what the import does meanwhile is unknown, so its fields stay locked until a
			// lease after that look, never released for want of budget.
			this.renewLease(row, call.at + this.leaseMs);
			return this.reschedule(row, call.at);
		}
		count("importCalls");
		const { res, imp } = await getImport(this.cfg.OUTREACH_API_BASE, access.token, row.id, this.timeoutMs);
		this.spent(call.grantId, res);
		const now = Date.now();
		const engine = this.engine;
		if (imp && importFinished(imp)) {
			const others = this.sql
				.exec<{ n: number; started: number }>(`SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE last_progress_at > started_at) AS started FROM imports_running WHERE id != ?`, row.id)
				.one();
			engine.learnJob(
				row.total,
				{ startedAt: outreachTime(imp.createdAt), finishedAt: outreachTime(imp.stateChangedAt) ?? outreachTime(imp.updatedAt) },
				{ sentAt: row.started_at, seenAt: now },
				{ lastOfPeriod: others.n === 0, sideBySide: others.started > 0 },
			);
			this.renewOthers(row);
			const next = this.finish(row, imp);
			if (this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM imports_running`).one().n === 0) engine.idle(Date.now());
			return next;
		}
		const said = classifyBulk(res, now);
		if (said.kind === "rate_limited") this.parts.budget().pause(said.until);
		if (said.kind === "refresh") await this.parts.tokens.accessToken(row.owner, access.token);
		const userProgressAt = (this.storage.kv.get("imports.progressAt") as number | undefined) ?? 0;
		if (imp && seenOf(imp) !== row.seen) {
			this.storage.kv.put("imports.progressAt", now);
			this.sql.exec(`UPDATE imports_running SET seen = ?, last_progress_at = ? WHERE id = ?`, seenOf(imp), now, row.id);
		}
		const progressAt = Math.max(imp && seenOf(imp) !== row.seen ? now : row.last_progress_at, userProgressAt);
		if (progressAt > row.last_progress_at || progressAt + this.leaseMs > now) {
			// This import, or one ahead of it for the same user, moved: its fields stay locked a lease from that moment.
			this.renewLease(row, progressAt + this.leaseMs);
		}
		if (row.lease_until <= now)
			return this.abandon(row, imp ? `it made no progress for ${Math.round(this.leaseMs / 1000)} s (state '${imp.state}')` : "its state could not be learned");
		// It moved: Outreach is working through our imports. Not done: the next look when all of ours running should
		// be (an import says nothing of how far it got), which holds whether they go one after another or side by side.
		if (imp && seenOf(imp) !== row.seen) this.renewOthers(row);
		const left = this.sql.exec<{ n: number | null }>(`SELECT SUM(total) AS n FROM imports_running`).one().n ?? row.total;
		return this.reschedule(row, this.againAt(now + left / engine.perMs, now, row.started_at, row.lease_until - 500));
	}

	/** A look saw `row` move or finish: the other running imports keep their fields a lease from now; they wait their turn. */
	private renewOthers(row: ImportRow): void {
		const until = Date.now() + this.leaseMs;
		for (const r of this.sql.exec<ImportRow>(`SELECT * FROM imports_running WHERE id != ? AND lease_until < ?`, row.id, until).toArray()) this.renewLease(r, until);
	}

	/** A finished import: without failures, delivered; with failures, the failed records are found (then: come back now). */
	private finish(row: ImportRow, imp: OutreachImport): number | null {
		const items = this.parts.items.running("import", row.id);
		const settle = (its: ItemRow[], delivered: boolean) => {
			settleItems(this.parts.versions, its, row.grant_id, { delivered, known: true });
		};
		this.sql.exec(`DELETE FROM imports_running WHERE id = ?`, row.id);
		this.storage.kv.put("imports.progressAt", Date.now());
		const byProspect = new Map<number, ItemRow[]>();
		for (const i of items) (byProspect.get(i.prospect_id) ?? byProspect.set(i.prospect_id, []).get(i.prospect_id)!).push(i);
		log("info", "import_finished", { importId: row.id, records: byProspect.size, failures: imp.failures });
		if (imp.failures === 0) {
			settle(items, true);
			this.parts.items.decide(items, "delivered");
			return null;
		}
		const listed = new Map<number, string>();
		for (const f of imp.failedRecords ?? []) {
			const id = Number(f.id);
			if (Number.isSafeInteger(id)) listed.set(id, f.reason ?? "failed");
		}
		if (listed.size === imp.failures) {
			for (const [prospectId, its] of byProspect) {
				const reason = listed.get(prospectId);
				settle(its, reason === undefined);
				if (reason === undefined) this.parts.items.decide(its, "delivered");
				else this.parts.items.decide(its, "failed", `Outreach's import refused this prospect's record: ${reason}`);
			}
			return null;
		}
		// Only a count: find the failed records. Their fields are released (the import is over) and re-checked on the way out.
		settle(items, false);
		if (imp.failures >= byProspect.size || byProspect.size <= PATCH_PART_RECORDS) {
			this.parts.items.decide(items, "patch", `Outreach's import failed ${imp.failures} of ${byProspect.size} records without saying which; PATCH names each one's reason`);
			return null;
		}
		const records = [...byProspect.values()];
		const half = Math.ceil(records.length / 2);
		this.parts.items.backToWaiting(records.slice(0, half).flat(), `${row.id}a`);
		this.parts.items.backToWaiting(records.slice(half).flat(), `${row.id}b`);
		log("info", "import_failures_split", { importId: row.id, records: records.length, failures: imp.failures });
		return Date.now();
	}

	/** Gives up an import that made no progress for a lease: its records go by PATCH, the destination too for a while. */
	private abandon(row: ImportRow, why: string): null {
		const items = this.parts.items.running("import", row.id);
		settleItems(this.parts.versions, items, row.grant_id, { delivered: false, known: true });
		this.parts.items.decide(items, "patch", `the import was given up: ${why}`);
		const destinations = new Set(items.map((i) => i.destination_id));
		this.parts.items.fallBack("import", destinations, `An Outreach import made no progress (${why}); records go by PATCH`, Date.now() + REFUSED_FALLBACK_MS);
		this.sql.exec(`DELETE FROM imports_running WHERE id = ?`, row.id);
		log("warn", "import_abandoned", { importId: row.id, why });
		return null;
	}
}

/** What a poll saw of an import; a change is progress. Outreach publishes `stateChangedAt`; `updatedAt` is read too. */
const seenOf = (imp: OutreachImport) => `${imp.state}@${imp.stateChangedAt ?? ""}@${imp.updatedAt ?? ""}`;

/** One record per prospect, with the values of all its writes. */
function recordsOf(items: ItemRow[]): ImportRecord[] {
	const records = new Map<number, Record<string, unknown>>();
	for (const i of items) (records.get(i.prospect_id) ?? records.set(i.prospect_id, {}).get(i.prospect_id)!)[i.field] = JSON.parse(i.value) as unknown;
	return [...records].map(([id, attributes]) => ({ id, attributes }));
}
