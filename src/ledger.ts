import { DurableObject } from "cloudflare:workers";

/**
 * The ledger: one Durable Object per destination (named by its id): per-update states, counters per
 * segment and hour, failures with their source data, alert state. Tables: see src/STORAGE.md.
 */
export class Ledger extends DurableObject<Env> {
	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`);
	}

	/**
	 * True the first time `key` is claimed (until `ttlMs` passes), false ever after: strongly consistent
	 * single use, e.g. for OAuth `state`, where KV's eventual consistency would allow a replay.
	 */
	claimOnce(key: string, ttlMs: number): boolean {
		const now = Date.now();
		const sql = this.ctx.storage.sql;
		sql.exec(`DELETE FROM claims WHERE expires_at < ?`, now);
		const taken = sql.exec(`SELECT 1 FROM claims WHERE key = ?`, key).toArray().length > 0;
		if (taken) return false;
		// Kept past the TTL's end so a replay after expiry is still refused by the caller's own expiry check.
		sql.exec(`INSERT INTO claims (key, expires_at) VALUES (?, ?)`, key, now + ttlMs * 2);
		return true;
	}

	/** Alert state per condition (evaluated by the cron in src/alerts.ts). */
	getAlertState(): Record<string, AlertConditionState> {
		return (this.ctx.storage.kv.get("alert-state") as Record<string, AlertConditionState> | undefined) ?? {};
	}

	putAlertState(state: Record<string, AlertConditionState>): void {
		this.ctx.storage.kv.put("alert-state", state);
	}

	/** Erases everything this destination's ledger holds (DELETE /api/destinations/:id). */
	async erase(): Promise<void> {
		await this.ctx.storage.deleteAll();
	}
}

export type AlertConditionState = { active: boolean; since?: number; lastSentAt?: number; detail?: string };

export function ledgerStub(env: Env, destinationId: string): DurableObjectStub<Ledger> {
	return env.LEDGER.getByName(destinationId) as DurableObjectStub<Ledger>;
}
