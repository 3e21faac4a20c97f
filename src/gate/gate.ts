import { DurableObject } from "cloudflare:workers";
import { config } from "../platform/config";
import type { ConnectionRecord, OutreachUser } from "../destinations/records";
import { log } from "../platform/log";
import type { TokenGrant } from "../outreach/oauth";
import type { Update } from "../updates/update";
import { Budget, slotWaitMs, type BudgetStatus } from "./budget";
import { BulkDelivery } from "./bulk";
import { BulkImports } from "./imports";
import { BulkItems } from "./items";
import { bulkCarries, bulkPath, bulkWays, FILL_QUIET_MS, pathForBacklog, type DeliveryPath } from "./path";
import { customFieldNumber } from "../outreach/attributes";
import { Moves } from "./moves";
import { TokenCustody, type AccessResult, type GrantRow } from "./tokens";
import { FieldVersions, lockKey, type ExportedVersion, type FieldVersion, type VersionGrant } from "./versions";

/**
 * The gate: one Durable Object per Outreach user (named by the user's id, so an email change is the same
 * gate), the single writer of that user's rate budget, of its destinations' OAuth grants, and of each
 * destination's prospect-field versions. Token custody lives in ./tokens, the budget in ./budget, versions in
 * ./versions and moves between gates in ./moves; this class wires them to its storage and its alarm.
 */
export class Gate extends DurableObject<Env> {
	private readonly tokens: TokenCustody;
	private readonly moves: Moves;
	private readonly versions: FieldVersions;
	private readonly items: BulkItems;
	private readonly bulk: BulkDelivery;
	private readonly imports: BulkImports;
	/** Moves being copied right now, so concurrent admissions wait for one copy instead of starting another. */
	private readonly copying = new Map<string, Promise<boolean>>();

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.tokens = new TokenCustody(ctx, env);
		this.tokens.onMirrorFailed = () => void this.wakeIn(MIRROR_RETRY_MS);
		this.moves = new Moves(ctx.storage);
		this.versions = new FieldVersions(ctx.storage);
		this.items = new BulkItems(ctx.storage, env, this.tokens);
		const parts = { items: this.items, versions: this.versions, budget: () => this.budget, tokens: this.tokens };
		this.bulk = new BulkDelivery(ctx.storage, env, parts);
		this.imports = new BulkImports(ctx.storage, env, parts);
	}

	private budgetCache?: Budget;
	private get budget(): Budget {
		const c = config(this.env);
		return (this.budgetCache ??= new Budget(this.ctx.storage, {
			limit: c.OUTREACH_RATE_LIMIT,
			windowMs: c.OUTREACH_RATE_WINDOW_SECONDS * 1000,
			leaseMs: c.GRANT_LEASE_SECONDS * 1000,
			aheadMs: slotWaitMs(c.OUTREACH_RATE_WINDOW_SECONDS),
		}));
	}

	private get name(): string {
		return (this.ctx.id.name ?? "") || (this.ctx.storage.kv.get("gate.name") as string | undefined) || "";
	}

	// ─── token custody (src/gate/tokens.ts) ───

	/**
	 * Stores a destination's new grant; answers the connection record it mirrored to KV. `formerGate`: the gate
	 * that held the destination's grant before (a reconnect as another Outreach user): its versions move here.
	 */
	async storeGrant(destinationId: string, user: OutreachUser, grant: TokenGrant, formerGate?: string): Promise<ConnectionRecord> {
		this.rememberName(user);
		if (formerGate && formerGate !== this.name) this.moves.begin(destinationId, formerGate, Date.now());
		else this.moves.arrived(destinationId);
		await this.wakeIn(0);
		return this.tokens.store(destinationId, this.name, user, grant);
	}

	/** Keeps a grant from an API-started flow until an admin confirms it (`confirmGrant`) or it expires. */
	async storePendingGrant(destinationId: string, user: OutreachUser, grant: TokenGrant, expiresAt: number): Promise<void> {
		this.rememberName(user);
		await this.tokens.storePending(destinationId, user, grant, expiresAt);
	}

	/** Makes a pending grant the destination's grant; null when it expired or was dropped. */
	async confirmGrant(destinationId: string, formerGate?: string): Promise<ConnectionRecord | null> {
		const record = await this.tokens.confirmPending(destinationId, this.name);
		if (!record) return null;
		if (formerGate && formerGate !== this.name) this.moves.begin(destinationId, formerGate, Date.now());
		else this.moves.arrived(destinationId);
		await this.wakeIn(0);
		return record;
	}

	dropPendingGrant(destinationId: string): void {
		this.tokens.dropPending(destinationId);
	}

	/** Removes a destination's grant; `movedTo`: the gate it moved to, which will copy its versions from here. */
	async removeGrant(destinationId: string, movedTo?: string): Promise<void> {
		if (movedTo && movedTo !== this.name) this.moves.left(destinationId, movedTo, Date.now());
		await this.tokens.remove(destinationId);
	}

	accessToken(destinationId: string, rejected?: string): Promise<AccessResult> {
		return this.tokens.accessToken(destinationId, rejected);
	}

	/** A refusal that only a reconnect fixes; `generation`: the grant whose token received it (older ones are ignored). */
	markReconnectRequired(destinationId: string, reason: string, generation?: number): Promise<void> {
		return this.tokens.markReconnectRequired(destinationId, reason, generation);
	}

	/** The destination's connection as this gate holds it (strongly consistent, unlike KV), or null. */
	connection(destinationId: string): ConnectionRecord | null {
		return this.tokens.connection(destinationId);
	}

	/** Hands a grant to the gate that now answers for this user (an upgrade from gates named by id and email). */
	handOverGrant(destinationId: string): GrantRow | null {
		return this.tokens.handOver(destinationId);
	}

	// ─── moves between gates (src/gate/moves.ts) ───

	/** A page of a destination's versions for the gate it is moving to, and until when a call here may be in flight. */
	exportVersions(destinationId: string, after: { prospectId: number; field: string } | null, limit: number): { rows: ExportedVersion[]; busyUntil: number } {
		return { rows: this.versions.exportPage(destinationId, after, limit), busyUntil: this.versions.busyUntil(destinationId, Date.now()) };
	}

	/**
	 * Erasure of prospects of one destination (POST /api/destinations/:id/erasures, through its ledger): their
	 * versions, and their segment writes still waiting to go in bulk; older work still travelling is refused
	 * from now on (versions.erase). Answers what was removed.
	 */
	eraseProspects(destinationId: string, prospectIds: number[], at: number, updateIds: string[]): { versions: number; bulkItems: number } {
		return { versions: this.versions.erase(destinationId, prospectIds, at, updateIds), bulkItems: this.items.erase(destinationId, prospectIds) };
	}

	/** What this gate holds of one prospect of a destination (the prospect trace). */
	prospectVersions(destinationId: string, prospectId: number) {
		return this.versions.held(destinationId, prospectId);
	}

	/** The destination's versions are safe in `toGate`: forget them here and refuse its calls from now on. */
	release(destinationId: string, toGate: string): void {
		this.versions.forget(destinationId);
		this.moves.left(destinationId, toGate, Date.now());
	}

	/**
	 * Copies a moving destination's versions here, a few pages per call; true once complete. Resumable: the
	 * cursor is stored, so an evicted gate continues where it stopped.
	 */
	private continueMove(destinationId: string): Promise<boolean> {
		const running = this.copying.get(destinationId);
		if (running) return running;
		const p = this.copyPages(destinationId).finally(() => this.copying.delete(destinationId));
		this.copying.set(destinationId, p);
		return p;
	}

	private async copyPages(destinationId: string): Promise<boolean> {
		const move = this.moves.pending(destinationId);
		if (!move) return true;
		const from = gateStub(this.env, move.from_gate);
		let cursor = move.cursor ? (JSON.parse(move.cursor) as { prospectId: number; field: string }) : null;
		for (let page = 0; page < MOVE_PAGES_PER_CALL; page++) {
			const { rows, busyUntil } = await from.exportVersions(destinationId, cursor, MOVE_PAGE);
			this.versions.importPage(destinationId, rows as ExportedVersion[], Date.now());
			if (rows.length > 0) {
				cursor = { prospectId: rows.at(-1)!.prospectId, field: rows.at(-1)!.field };
				this.moves.saveCursor(destinationId, JSON.stringify(cursor));
			}
			if (rows.length === MOVE_PAGE) continue;
			// A call the old gate granted may still land: wait until its lease ends, then take a last page.
			if (busyUntil > Date.now()) return false;
			const last = await from.exportVersions(destinationId, cursor, MOVE_PAGE);
			this.versions.importPage(destinationId, last.rows as ExportedVersion[], Date.now());
			if (last.rows.length === MOVE_PAGE) continue;
			await from.release(destinationId, this.name);
			this.moves.finish(destinationId);
			log("info", "versions_moved", { destinationId, from: move.from_gate, to: this.name });
			return true;
		}
		return false;
	}

	/** Takes over a destination whose grant sits in a gate named the old way (an upgrade). */
	private async adoptFrom(destinationId: string, formerGate: string): Promise<void> {
		if (this.tokens.connection(destinationId) || this.moves.pending(destinationId) || formerGate === this.name) return;
		const row = await gateStub(this.env, formerGate).handOverGrant(destinationId);
		if (!row) return;
		this.ctx.storage.kv.put("gate.name", this.name || String(row.user_id));
		this.moves.begin(destinationId, formerGate, Date.now());
		await this.tokens.adopt(destinationId, row, this.name);
		log("info", "grant_adopted", { destinationId, from: formerGate });
	}

	// ─── budget and field versions (src/gate/budget.ts, src/gate/versions.ts) ───

	/**
	 * The one call per consumer round: access tokens for the round's destinations, then — in one synchronous,
	 * atomic step — version checks and budget grants for its calls (oldest first). Calls it cannot grant now
	 * come back with a time to return. Each grant carries its lease: the call may be sent only while more than
	 * the request timeout is left of it.
	 */
	async admit(request: AdmitRequest): Promise<AdmitResult> {
		if (request.settle) this.settle(request.settle);
		const destinations = Object.keys(request.destinations);
		const held: AdmitResult["held"] = {};
		const tokens: AdmitResult["tokens"] = {};
		await Promise.all(
			destinations.map(async (d) => {
				const former = request.destinations[d]!.formerGate;
				if (former) await this.adoptFrom(d, former);
				const away = this.moves.awayTo(d);
				if (away) {
					held[d] = { ok: false, status: "moved", to: away, reason: `This destination's connection moved to another Outreach user's gate.` };
					return;
				}
				// The ledger told this gate of the pause; the consumer's copy of the record may be older (KV's cache).
				if (this.items.paused(d)) {
					held[d] = { ok: false, status: "paused", reason: "The destination is paused: its updates are held." };
					return;
				}
				if (this.moves.pending(d) && !(await this.continueMove(d))) {
					held[d] = { ok: false, status: "unavailable", reason: "Its versions are moving from its former Outreach user's gate.", retryAfterMs: MOVE_RETRY_MS };
					await this.wakeIn(MOVE_RETRY_MS);
					return;
				}
				const a = await this.tokens.accessToken(d);
				if (a.ok) tokens[d] = { token: a.token, generation: a.generation };
				else held[d] = a;
			}),
		);
		// From here on nothing awaits: version checks and grants are one atomic step.
		const now = Date.now();
		const leaseMs = config(this.env).GRANT_LEASE_SECONDS * 1000;
		const leaseUntil = now + leaseMs;
		const calls = request.calls.filter((c) => !held[c.destinationId]);
		// What the round's calls need of versions, locks, revisions, erasures and joined slots: read once, checked in memory.
		const batch = this.versions.load(calls, now, calls.flatMap((c) => (c.slot === undefined ? [] : [c.slot])));
		for (const d of destinations) batch.learnRevisions(d, request.destinations[d]!.revisions);
		const result: AdmitResult = { now, tokens, held, granted: [], stale: [], done: [], deferred: [] };
		const candidates: { call: AdmitCall; fields: string[] }[] = [];
		const lockedNow = new Set<string>();
		const unneeded: number[] = [];
		for (const call of calls) {
			batch.learnRevisions(call.destinationId, revisionsIn(call.fields));
			// A newer call of this prospect joined the slot: this one would only be overwritten; the slot is the newer's.
			if (call.slot !== undefined && batch.overtaken(call.slot, call.fields)) {
				result.stale.push(call.key);
				continue;
			}
			const check = batch.check(call, lockedNow);
			if (check.kind === "stale" || check.kind === "done") {
				(check.kind === "stale" ? result.stale : result.done).push(call.key);
				if (call.slot !== undefined && !batch.joined(call.slot)) unneeded.push(call.slot);
			} else if (check.kind === "busy") result.deferred.push({ key: call.key, at: check.until, ...(call.slot === undefined ? {} : { slot: call.slot }) });
			else {
				candidates.push({ call, fields: check.fields });
				for (const f of check.fields) lockedNow.add(lockKey(call.prospectId, f));
			}
		}
		batch.finish();
		this.budget.release(unneeded);
		const decisions = this.budget.grant(
			candidates.map((c) => c.call.slot),
			now,
			candidates.map((c) => c.call.key),
		);
		const advances: VersionGrant[] = [];
		candidates.forEach((c, i) => {
			const d = decisions[i]!;
			if ("grantId" in d) {
				if (c.call.slot !== undefined) this.versions.dropJoins(c.call.slot);
				// A grant for a moment to come leases its fields from then.
				const until = d.startAt === undefined ? leaseUntil : d.startAt + leaseMs;
				advances.push({ destinationId: c.call.destinationId, prospectId: c.call.prospectId, fields: pick(c.call.fields, c.fields), grantId: d.grantId, leaseUntil: until });
				result.granted.push({ key: c.call.key, grantId: d.grantId, fields: c.fields, leaseUntil: until, ...(d.startAt === undefined ? {} : { startAt: d.startAt }) });
			} else {
				if (d.joined) this.versions.join(d.reservation, pick(c.call.fields, c.fields), this.budget.lapsesAt(d.at));
				result.deferred.push({ key: c.call.key, at: d.at, slot: d.reservation });
			}
		});
		// Advancing touches nothing the loop above reads or writes (slot joins, the budget): all grants go in one statement per table.
		this.versions.advanceMany(advances, now);
		return result;
	}

	/** Once per consumer round, after its calls: when Outreach answered each, what it said, which fields landed. */
	settle(report: SettleReport): void {
		const sent = report.calls.filter((c) => c.sent);
		this.budget.cancel(report.calls.filter((c) => !c.sent).map((c) => c.grantId));
		this.budget.settle(sent.map((c) => ({ id: c.grantId, at: c.answeredAt })));
		this.versions.settleMany(report.calls.map((c) => ({ ...c, outcome: { delivered: c.delivered, known: c.known || !c.sent } })));
		if (report.observed) this.budget.observe(report.observed.grantId, report.observed.remaining, report.observed.resetAt, Date.now());
		if (report.pauseUntil) this.budget.pause(report.pauseUntil);
	}

	/** Which of these calls' versions Outreach already confirmed (the dead-letter consumer asks before failing them). */
	confirmed(calls: { key: string; destinationId: string; prospectId: number; fields: Record<string, FieldVersion> }[]): string[] {
		return calls.filter((c) => this.versions.confirmed(c.destinationId, c.prospectId, c.fields)).map((c) => c.key);
	}

	/** Logs a call this user's token already made outside a batch (users/me during the OAuth callback). */
	recordCall(at: number): void {
		this.budget.record(at);
	}

	/** One grant for a call outside a batch (e.g. verify's GET /types); settle it with `settleOne`. */
	grantOne(): { ok: true; grantId: number } | { ok: false; retryAt: number } {
		const [d] = this.budget.grant([undefined], Date.now());
		if ("grantId" in d!) return { ok: true, grantId: d.grantId };
		// Nobody will come back for this slot: verify is asked again by a person, not by a queue.
		this.budget.release([d!.reservation]);
		return { ok: false, retryAt: d!.at };
	}

	settleOne(grantId: number, answeredAt: number): void {
		this.budget.settle([{ id: grantId, at: answeredAt }]);
	}

	budgetStatus(): BudgetStatus {
		return this.budget.status(Date.now());
	}

	// ─── bulk paths: imports and the bulk API (src/gate/items.ts, imports.ts, bulk.ts; the rules in path.ts) ───

	/**
	 * Offers a bulk-enabled destination's updates: the gate takes them to deliver in bulk when its user's backlog
	 * cannot drain by PATCH within the window (path.ts), and answers which it took, and why; the caller sends the
	 * others by PATCH. A paused destination's updates are not taken: the caller holds them.
	 */
	async offerBulk(destinationId: string, updates: Update[]): Promise<{ taken: string[]; paused: boolean; path: DeliveryPath }> {
		if (this.items.paused(destinationId)) return { taken: [], paused: true, path: { path: "patch", reason: "The destination is paused: its updates are held." } };
		// While its versions move between gates, the destination's updates wait at admission (admit holds them).
		if (this.moves.pending(destinationId) || this.moves.awayTo(destinationId)) return { taken: [], paused: false, path: { path: "patch", reason: "Its versions are moving between Outreach users' gates." } };
		const now = Date.now();
		const c = config(this.env);
		const windowMs = c.OUTREACH_RATE_WINDOW_SECONDS * 1000;
		const ways = bulkWays({ bulkApi: true }, this.tokens.connection(destinationId), {
			modify: this.items.fallback("modify", destinationId, now),
			imports: this.items.fallback("import", destinationId, now),
		});
		// The pace of arrivals over the last window (at least 5 s), scaled to a window: over a whole window a steady
		// stream below the limit reads below it, where a shorter look mistakes its bursts for a back-fill.
		const spanMs = Math.max(5_000, windowMs);
		// Only new arrivals count: an update coming back from a deferral (it holds a slot) or a retry arrived before.
		const recent = this.items.noteOffer(updates.filter((u) => u.slot === undefined && !u.attempt).length, now, spanMs);
		const budget = this.budget.status(now);
		let path = pathForBacklog({
			offered: updates.length,
			waiting: this.items.waitingWrites(),
			reserved: budget.reserved,
			arrivingPerWindow: (recent * windowMs) / spanMs,
			limit: budget.limit,
		});
		if (!ways.modify && !ways.imports) path = { path: "patch", reason: `${ways.reason} Until then every update goes by PATCH.` };
		const taken: string[] = [];
		if (path.path === "bulk") {
			const byVia = { modify: [] as Update[], import: [] as Update[] };
			let left = 0;
			for (const u of updates) {
				const via = u.patchOnly ? null : bulkCarries(ways, Object.keys(u.fields).every((f) => customFieldNumber(f) !== null));
				if (via) byVia[via].push(u);
				else left++;
			}
			this.items.take(destinationId, "modify", byVia.modify, now);
			this.items.take(destinationId, "import", byVia.import, now);
			for (const u of [...byVia.modify, ...byVia.import]) taken.push(u.id);
			if (left && ways.reason) path = { path: "bulk", reason: `${path.reason} ${ways.reason}` };
			if (taken.length) await this.wakeIn(FILL_QUIET_MS);
		}
		const before = this.ctx.storage.kv.get(`path.${destinationId}`) as DeliveryPath | undefined;
		if (before?.path !== path.path) log("info", "delivery_path", { destinationId, path: path.path, reason: path.reason });
		this.ctx.storage.kv.put(`path.${destinationId}`, { ...path, at: now });
		return { taken, paused: false, path };
	}

	/**
	 * Which of these updates the gate holds in bulk (waiting, running, or decided and not yet reported): their
	 * ledger asks before it takes a copy it has not heard of for too long as lost.
	 */
	holding(destinationId: string, updateIds: string[]): string[] {
		return this.items.holding(destinationId, updateIds);
	}

	/**
	 * Which way the destination's updates go now and why, whether a bulk path may be used at all, and what of
	 * them is waiting or running in bulk.
	 */
	bulkStatus(destinationId: string): { delivery: DeliveryPath; usable: boolean; waiting: number; running: number } {
		const now = Date.now();
		const fallback = { modify: this.items.fallback("modify", destinationId, now), imports: this.items.fallback("import", destinationId, now) };
		const ways = bulkWays({ bulkApi: true }, this.tokens.connection(destinationId), fallback);
		const last = this.ctx.storage.kv.get(`path.${destinationId}`) as (DeliveryPath & { at: number }) | undefined;
		const status = this.items.status(destinationId);
		// The last choice stands while its work is in hand, and for a window after it was made.
		const current = last && (status.waiting + status.running > 0 || now - last.at < config(this.env).OUTREACH_RATE_WINDOW_SECONDS * 1000);
		const delivery =
			(ways.modify || ways.imports) && current ? { path: last.path, reason: ways.reason ? `${last.reason} ${ways.reason}` : last.reason } : bulkPath({ bulkApi: true }, this.tokens.connection(destinationId), fallback);
		return { delivery, usable: ways.modify || ways.imports, ...status };
	}

	/** A destination was paused: its bulk writes not yet sent go back to its ledger, held; nothing more is taken. */
	async pauseBulk(destinationId: string): Promise<number> {
		const released = this.items.pause(destinationId);
		if (released) await this.wakeIn(0);
		return released;
	}

	async resumeBulk(destinationId: string): Promise<void> {
		this.items.resume(destinationId);
		await this.wakeIn(0);
	}

	/** The destinations whose grants this gate holds: they share its budget. */
	destinations(): string[] {
		return this.tokens.destinations();
	}

	// ─── the alarm: mirror writes to retry, moves to continue, old versions to prune ───

	private async wakeIn(ms: number): Promise<void> {
		const at = Date.now() + ms;
		const current = await this.ctx.storage.getAlarm();
		if (current === null || current > at) await this.ctx.storage.setAlarm(at);
	}

	override async alarm(): Promise<void> {
		// Set first: should this run die (a limit, an eviction), the next one still comes, and with it the polls.
		await this.ctx.storage.setAlarm(Date.now() + FALLBACK_ALARM_MS);
		const bulkNext = await this.runBulk();
		const unwritten = await this.tokens.healMirrors();
		let unfinished = false;
		for (const move of this.moves.all()) unfinished = !(await this.continueMove(move.destination_id).catch(() => false)) || unfinished;
		const now = Date.now();
		const lastPrune = (this.ctx.storage.kv.get("versions.prunedAt") as number | undefined) ?? 0;
		if (now - lastPrune >= DAY) {
			// Versions outlive every failure that could still be replayed against them (RETENTION_DAYS after its
			// last touch): a version is touched whenever an update is checked against it.
			const pruned = this.versions.prune(now - (config(this.env).RETENTION_DAYS + 1) * DAY, now);
			this.ctx.storage.kv.put("versions.prunedAt", now);
			if (pruned) log("info", "versions_pruned", { gate: this.name, rows: pruned });
		}
		const next = Math.min(now + (unwritten ? MIRROR_RETRY_MS : unfinished ? MOVE_RETRY_MS : DAY), bulkNext ?? Infinity);
		await this.ctx.storage.setAlarm(Math.max(Date.now(), next));
	}

	/** Sends and polls the bulk paths' work, reports decided updates; answers when to come back (null: idle). */
	private async runBulk(): Promise<number | null> {
		const times = [await this.imports.run(Date.now()), await this.bulk.run(Date.now())];
		await this.items.report();
		if (this.items.hasDecided()) times.push(Date.now() + 5_000);
		const due = times.filter((t): t is number => t !== null);
		return due.length ? Math.min(...due) : null;
	}

	private rememberName(user: OutreachUser): void {
		if (!this.ctx.storage.kv.get("gate.name")) this.ctx.storage.kv.put("gate.name", gateName(user));
	}
}

const DAY = 86_400_000;
const MIRROR_RETRY_MS = 5_000;
const MOVE_RETRY_MS = 2_000;
const MOVE_PAGE = 500;
const MOVE_PAGES_PER_CALL = 20;
const FALLBACK_ALARM_MS = 30_000;

function pick<T>(record: Record<string, T>, names: string[]): Record<string, T> {
	return Object.fromEntries(names.map((n) => [n, record[n]!]));
}

/** The revision each field of a call was mapped under: a newer one than the gate knew is news to it. */
function revisionsIn(fields: Record<string, FieldVersion>): Record<string, number> {
	return Object.fromEntries(Object.entries(fields).map(([f, { v }]) => [f, v[0]]));
}

/**
 * One prospect PATCH a consumer round wants to make; `key` identifies it in the answer. `slot`: the budget slot
 * reserved for it when it was deferred before.
 */
export type AdmitCall = { key: string; destinationId: string; prospectId: number; fields: Record<string, FieldVersion>; slot?: number };

export type AdmitRequest = {
	calls: AdmitCall[];
	/**
	 * Per destination in the round: the revisions of its mapping as the consumer read it, and the gate that held
	 * its grant before when the connection record names a gate of the old naming (an upgrade).
	 */
	destinations: Record<string, { revisions: Record<string, number>; formerGate?: string }>;
	/** The previous round's settle report, when the consumer goes straight on to this round (one call, not two). */
	settle?: SettleReport;
};

export type HeldReason =
	| Exclude<AccessResult, { ok: true }>
	| { ok: false; status: "moved"; to: string; reason: string }
	| { ok: false; status: "paused"; reason: string };

export type AdmitResult = {
	now: number;
	/** Access token (and its grant's generation) per destination that may call Outreach now. */
	tokens: Record<string, { token: string; generation: number }>;
	/** Destinations whose calls must wait (connection lost, not connected, token endpoint unavailable, moved, paused). */
	held: Record<string, HeldReason>;
	/** Granted calls; each may be sent only while more than the request timeout is left before `leaseUntil`. */
	/** `startAt`: granted for this moment (gate time), its slot; the call is sent then, not before. */
	granted: { key: string; grantId: number; fields: string[]; leaseUntil: number; startAt?: number }[];
	/** Calls all of whose fields were already applied at a newer version, or mapped under an older revision: superseded. */
	stale: string[];
	/** Calls whose own version already reached Outreach (duplicates, retried batches): delivered. */
	done: string[];
	/** Calls to come back at `at`; `slot`: the budget slot reserved for the call, to present then. */
	deferred: { key: string; at: number; slot?: number }[];
};

export type SettleReport = {
	calls: {
		grantId: number;
		destinationId: string;
		prospectId: number;
		fields: Record<string, FieldVersion>;
		/** False when the call was not sent at all (too little of its lease was left). */
		sent: boolean;
		answeredAt: number;
		delivered: boolean;
		/** Whether Outreach's answer is known (false after a timeout or a network error: it may still apply). */
		known: boolean;
	}[];
	/** The newest X-RateLimit-* reading, tied to the grant whose answer carried it. */
	observed?: { grantId: number; remaining: number; resetAt: number };
	/** A 429 said: no calls until then. */
	pauseUntil?: number;
};

/** The gate of an Outreach user: one per user id (an email change is the same user), shared by all its destinations. */
export function gateName(user: Pick<OutreachUser, "id">): string {
	return String(user.id);
}

/** The gate that answers for the user a connection record names, when the record names a gate the old way (`<id>:<email>`). */
export function formerGateOf(connection: Pick<ConnectionRecord, "gate" | "user">): string | undefined {
	return connection.gate !== gateName(connection.user) ? connection.gate : undefined;
}

export function gateStub(env: Env, name: string): DurableObjectStub<Gate> {
	return env.GATE.getByName(name) as DurableObjectStub<Gate>;
}
