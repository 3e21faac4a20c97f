import { DurableObject } from "cloudflare:workers";
import type { ConnectionRecord, OutreachUser } from "../destinations";
import { Budget, type BudgetStatus } from "./budget";
import { config } from "../config";
import type { Version } from "../updates";
import { FieldVersions } from "./versions";
import type { TokenGrant } from "../outreach/oauth";
import { TokenCustody, type AccessResult } from "./tokens";

/**
 * The gate: one Durable Object per Outreach user (named by `gateName`), the single writer of that user's
 * rate budget, of its destinations' OAuth grants, and of each prospect field's applied version.
 * Token custody lives in ./tokens, the budget in ./budget; this class wires them to its storage.
 */
export class Gate extends DurableObject<Env> {
	private readonly tokens: TokenCustody;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.tokens = new TokenCustody(ctx, env);
	}

	// ─── token custody (src/gate/tokens.ts) ───
	/** Stores a destination's new grant; answers the connection record it mirrored to KV. */
	storeGrant(destinationId: string, user: OutreachUser, grant: TokenGrant): Promise<ConnectionRecord> {
		return this.tokens.store(destinationId, gateName(user), user, grant);
	}

	removeGrant(destinationId: string): Promise<void> {
		return this.tokens.remove(destinationId);
	}

	accessToken(destinationId: string, rejected?: string): Promise<AccessResult> {
		return this.tokens.accessToken(destinationId, rejected);
	}

	markReconnectRequired(destinationId: string, reason: string): Promise<void> {
		return this.tokens.markReconnectRequired(destinationId, reason);
	}

	/** The destination's connection as this gate holds it (strongly consistent, unlike KV), or null. */
	connection(destinationId: string): ConnectionRecord | null {
		return this.tokens.connection(destinationId);
	}
	// ─── budget and field versions (src/gate/budget.ts, src/gate/versions.ts) ───
	private budgetCache?: Budget;
	private versionsCache?: FieldVersions;

	private get budget(): Budget {
		const c = config(this.env);
		return (this.budgetCache ??= new Budget(this.ctx.storage, { limit: c.OUTREACH_RATE_LIMIT, windowMs: c.OUTREACH_RATE_WINDOW_SECONDS * 1000 }));
	}

	private get versions(): FieldVersions {
		return (this.versionsCache ??= new FieldVersions(this.ctx.storage));
	}

	/**
	 * The one call per consumer batch: access tokens for the batch's destinations, then — in one synchronous,
	 * atomic step — field-version checks and budget grants for its calls (oldest first). Calls it cannot
	 * grant now come back with a time to return.
	 */
	async admit(calls: AdmitCall[]): Promise<AdmitResult> {
		const destinations = [...new Set(calls.map((c) => c.destinationId))];
		const access = await Promise.all(destinations.map((d) => this.tokens.accessToken(d)));
		const tokens: Record<string, string> = {};
		const held: AdmitResult["held"] = {};
		destinations.forEach((d, i) => {
			const a = access[i]!;
			if (a.ok) tokens[d] = a.token;
			else held[d] = a;
		});
		// From here on nothing awaits: version checks and grants are one atomic step.
		const now = Date.now();
		const result: AdmitResult = { now, tokens, held, granted: [], stale: [], done: [], deferred: [] };
		const candidates: { call: AdmitCall; fields: string[] }[] = [];
		for (const call of calls) {
			if (held[call.destinationId]) continue;
			const check = this.versions.check(call.prospectId, call.fields, now);
			if (check.kind === "stale") result.stale.push(call.key);
			else if (check.kind === "done") result.done.push(call.key);
			else if (check.kind === "busy") result.deferred.push({ key: call.key, at: check.until });
			else {
				candidates.push({ call, fields: check.fields });
				// Locks the fields, so a later call in this same step for the same field waits for this one.
				this.versions.advance(call.prospectId, call.fields, check.fields, now);
			}
		}
		const { granted, slots } = this.budget.grant(candidates.length, now);
		candidates.forEach((c, i) => {
			if (i < granted.length) result.granted.push({ key: c.call.key, grantId: granted[i]!, fields: c.fields });
			else {
				// No budget for it now: release the lock; its version stays unconfirmed, so it is fresh on return.
				this.versions.settle(c.call.prospectId, pick(c.call.fields, c.fields), false);
				result.deferred.push({ key: c.call.key, at: slots[i - granted.length]! });
			}
		});
		return result;
	}

	/** Once per consumer batch, after its calls: when Outreach answered each, what it said, which fields landed. */
	settle(report: SettleReport): void {
		this.budget.settle(report.calls.map((c) => ({ id: c.grantId, at: c.answeredAt })));
		for (const c of report.calls) this.versions.settle(c.prospectId, c.fields, c.delivered);
		if (report.observed) this.budget.observe(report.observed.grantId, report.observed.remaining, report.observed.resetAt);
		if (report.pauseUntil) this.budget.pause(report.pauseUntil);
	}

	/** Logs a call this user's token already made outside a batch (users/me during the OAuth callback). */
	recordCall(at: number): void {
		this.budget.record(at);
	}

	/** One grant for a call outside a batch (e.g. verify's GET /types); settle it with `settleOne`. */
	grantOne(): { ok: true; grantId: number } | { ok: false; retryAt: number } {
		const { granted, slots } = this.budget.grant(1, Date.now());
		return granted.length ? { ok: true, grantId: granted[0]! } : { ok: false, retryAt: slots[0]! };
	}

	settleOne(grantId: number, answeredAt: number): void {
		this.budget.settle([{ id: grantId, at: answeredAt }]);
	}

	budgetStatus(): BudgetStatus {
		return this.budget.status(Date.now());
	}
}

function pick<T>(record: Record<string, T>, names: string[]): Record<string, T> {
	return Object.fromEntries(names.map((n) => [n, record[n]!]));
}

/** One prospect PATCH a consumer batch wants to make; `key` identifies it in the answer. */
export type AdmitCall = { key: string; destinationId: string; prospectId: number; fields: Record<string, Version> };

export type AdmitResult = {
	now: number;
	/** Access token per destination that may call Outreach now. */
	tokens: Record<string, string>;
	/** Destinations whose calls must wait (connection lost, not connected, token endpoint unavailable). */
	held: Record<string, Exclude<AccessResult, { ok: true }>>;
	granted: { key: string; grantId: number; fields: string[] }[];
	/** Calls all of whose fields were already applied at a newer version: superseded. */
	stale: string[];
	/** Calls whose own version already reached Outreach (duplicates, retried batches): delivered. */
	done: string[];
	deferred: { key: string; at: number }[];
};

export type SettleReport = {
	calls: { grantId: number; answeredAt: number; prospectId: number; fields: Record<string, Version>; delivered: boolean }[];
	/** The newest X-RateLimit-* reading, tied to the grant whose answer carried it. */
	observed?: { grantId: number; remaining: number; resetAt: number };
	/** A 429 said: no calls until then. */
	pauseUntil?: number;
};


/** The gate of an Outreach user: one per user, shared by all the destinations that user connected. */
export function gateName(user: OutreachUser): string {
	return `${user.id}:${user.email.toLowerCase()}`;
}

export function gateStub(env: Env, name: string): DurableObjectStub<Gate> {
	return env.GATE.getByName(name) as DurableObjectStub<Gate>;
}
