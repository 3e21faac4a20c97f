import { z } from "zod";
import { config } from "../platform/config";
import { seal, unseal, UnsealError } from "../platform/crypto";
import { destinationStore, type ConnectionRecord, type OutreachUser } from "../destinations/records";
import { log } from "../platform/log";
import { refreshGrant, type TokenGrant, type TokenResult } from "../outreach/oauth";

/**
 * Token custody inside the gate: the only code that reads or writes OAuth tokens. Each destination's grant
 * is one row of the gate's SQLite table `grants` (the authority), its tokens sealed with AES-GCM
 * (src/platform/crypto.ts), and the same sealed record is mirrored to KV `connection:<id>` for the console. Nothing
 * but this class ever opens a sealed grant.
 *
 * Refresh discipline: at most one token request per destination is in flight; every caller that arrives
 * meanwhile awaits the same promise. The new refresh token is persisted in one synchronous SQL statement
 * before anyone gets the new access token, and the used one is never sent again. A refresh that Outreach
 * refuses (invalid_grant, 401) marks the destination `reconnect_required`, and from then on callers get that
 * answer without another request to Outreach. Only the in-flight promise lives in memory: an evicted object
 * loses nothing but a refresh in progress (whose answer, if Outreach rotated the token, cannot be recovered —
 * the next refresh then reports the grant lost, which a reconnect fixes).
 */

/**
 * What `accessToken` answers. `unavailable`: Outreach's token endpoint failed transiently (5xx, 429, network)
 * while the token needed refreshing — the grant is intact; ask again after `retryAfterMs` (delivery defers
 * its updates, it does not fail them).
 */
export type AccessResult =
	| { ok: true; token: string; generation: number }
	| { ok: false; status: "reconnect_required" | "not_connected"; reason: string }
	| { ok: false; status: "unavailable"; reason: string; retryAfterMs: number };

/**
 * Refresh when less than 5 minutes are left — or, for tokens that live less than 10 minutes (tests, the
 * benchmark), less than half their life, so a short-lived token is not refreshed on every call.
 */
const REFRESH_AHEAD = { ms: 5 * 60_000, fraction: 0.5 };
/** While refreshing is impossible, an old token is still handed out until this close to expiry. */
const LAST_USE = { ms: 10_000, fraction: 0.1 };
const MAX_BACKOFF_MS = 15 * 60_000;

/** What a sealed grant holds (the plaintext never leaves this module). */
const SealedGrant = z.object({
	accessToken: z.string(),
	refreshToken: z.string(),
	expiresAt: z.number(),
	obtainedAt: z.number(),
	scope: z.string(),
});
type SealedGrant = z.infer<typeof SealedGrant>;

export type GrantRow = {
	destination_id: string;
	gate: string;
	user_id: number;
	user_email: string;
	status: "connected" | "reconnect_required";
	reason: string | null;
	sealed: string;
	/** Bumped by every `store`, so a refresh that raced a reconnect or removal never writes over the newer grant. */
	generation: number;
	/** The scopes Outreach granted (space-separated); null for grants stored before scopes were kept. */
	scope?: string | null;
	/** After a transient refresh failure: no new token request before this time (epoch ms). */
	retry_at: number;
	failures: number;
	updated_at: number;
};

/** Binds a sealed grant to its destination: a sealed value copied to another destination does not open. */
const grantContext = (destinationId: string) => `grant:${destinationId}`;

export class TokenCustody {
	/** The in-flight resolution (read or refresh) per destination; concurrent callers share it. */
	private readonly pending = new Map<string, Promise<AccessResult>>();
	/** Serialises KV mirror writes per destination so KV always ends with the latest row. */
	private readonly mirrors = new Map<string, Promise<void>>();
	/** Called when a mirror write failed and must be retried (the gate's alarm retries it). */
	onMirrorFailed: () => void = () => {};

	constructor(
		readonly ctx: DurableObjectState,
		readonly env: Env,
	) {
		ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS grants (
			destination_id TEXT PRIMARY KEY,
			gate TEXT NOT NULL,
			user_id INTEGER NOT NULL,
			user_email TEXT NOT NULL,
			status TEXT NOT NULL,
			reason TEXT,
			sealed TEXT NOT NULL,
			generation INTEGER NOT NULL,
			retry_at INTEGER NOT NULL DEFAULT 0,
			failures INTEGER NOT NULL DEFAULT 0,
			updated_at INTEGER NOT NULL
		)`);
		ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS pending_grants (
			destination_id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, user_email TEXT NOT NULL, sealed TEXT NOT NULL,
			expires_at INTEGER NOT NULL)`);
		ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS mirror_pending (destination_id TEXT PRIMARY KEY, since INTEGER NOT NULL)`);
		// The scopes a grant carries are not secret: delivery reads them to know whether the bulk API may be used.
		for (const table of ["grants", "pending_grants"]) {
			const columns = ctx.storage.sql.exec<{ name: string }>(`PRAGMA table_info(${table})`).toArray().map((c) => c.name);
			if (!columns.includes("scope")) ctx.storage.sql.exec(`ALTER TABLE ${table} ADD COLUMN scope TEXT`);
		}
	}

	/** Stores a new grant for a destination (replacing any earlier one), marks it connected, and returns the KV record. */
	async store(destinationId: string, gateName: string, user: OutreachUser, grant: TokenGrant): Promise<ConnectionRecord> {
		const sealed = await this.seal(destinationId, { ...grant, obtainedAt: Date.now() });
		// One statement after the last await: the row changes atomically, whatever else interleaved.
		this.insertGrant(destinationId, gateName, user, sealed, grant.scope);
		const record = this.connection(destinationId)!; // read before the next await: this grant, as stored
		log("info", "grant_stored", { destinationId, userId: user.id });
		await this.mirror(destinationId);
		return record;
	}

	/**
	 * One statement after the last await: the row changes atomically, whatever else interleaved. Generations only
	 * grow, across gates too (they start from the clock), so an answer to an older grant never touches a newer one.
	 */
	private insertGrant(destinationId: string, gateName: string, user: OutreachUser, sealed: string, scope: string | null): void {
		const now = Date.now();
		this.ctx.storage.sql.exec(
			`INSERT INTO grants (destination_id, gate, user_id, user_email, status, reason, sealed, generation, retry_at, failures, updated_at, scope)
			 VALUES (?, ?, ?, ?, 'connected', NULL, ?, ?, 0, 0, ?, ?)
			 ON CONFLICT (destination_id) DO UPDATE SET gate = excluded.gate, user_id = excluded.user_id,
			   user_email = excluded.user_email, status = 'connected', reason = NULL, sealed = excluded.sealed,
			   generation = MAX(grants.generation + 1, excluded.generation), retry_at = 0, failures = 0, updated_at = excluded.updated_at,
			   scope = excluded.scope`,
			destinationId,
			gateName,
			user.id,
			user.email,
			sealed,
			now,
			now,
			scope,
		);
	}

	/**
	 * Keeps a grant from a flow started through the API until an admin confirms it (or 10 minutes pass): such
	 * a flow's authorize URL is not bound to a console session, so whoever completed it must be confirmed.
	 */
	async storePending(destinationId: string, user: OutreachUser, grant: TokenGrant, expiresAt: number): Promise<void> {
		const sealed = await this.seal(destinationId, { ...grant, obtainedAt: Date.now() });
		this.ctx.storage.sql.exec(
			`INSERT INTO pending_grants (destination_id, user_id, user_email, sealed, expires_at, scope) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (destination_id) DO UPDATE SET user_id = excluded.user_id, user_email = excluded.user_email,
			   sealed = excluded.sealed, expires_at = excluded.expires_at, scope = excluded.scope`,
			destinationId,
			user.id,
			user.email,
			sealed,
			expiresAt,
			grant.scope,
		);
		log("info", "grant_pending", { destinationId, userId: user.id });
	}

	/** Makes the pending grant the destination's grant; null when there is none (never stored, dropped or expired). */
	async confirmPending(destinationId: string, gateName: string): Promise<ConnectionRecord | null> {
		const row = this.ctx.storage.sql
			.exec<{ user_id: number; user_email: string; sealed: string; expires_at: number; scope: string | null }>(`SELECT * FROM pending_grants WHERE destination_id = ?`, destinationId)
			.toArray()[0];
		this.ctx.storage.sql.exec(`DELETE FROM pending_grants WHERE destination_id = ?`, destinationId);
		if (!row || row.expires_at < Date.now()) return null;
		this.insertGrant(destinationId, gateName, { id: row.user_id, email: row.user_email }, row.sealed, row.scope);
		const record = this.connection(destinationId)!;
		log("info", "grant_stored", { destinationId, userId: row.user_id, confirmed: true });
		await this.mirror(destinationId);
		return record;
	}

	dropPending(destinationId: string): void {
		this.ctx.storage.sql.exec(`DELETE FROM pending_grants WHERE destination_id = ?`, destinationId);
	}

	/** Hands a destination's grant row to another gate (an upgrade from gates named by id and email) and forgets it. */
	handOver(destinationId: string): GrantRow | null {
		const row = this.row(destinationId);
		if (!row) return null;
		this.ctx.storage.sql.exec(`DELETE FROM grants WHERE destination_id = ?`, destinationId);
		return row;
	}

	/** Takes a grant row handed over by another gate, as this gate's, unless this gate already holds a newer one. */
	async adopt(destinationId: string, row: GrantRow, gateName: string): Promise<void> {
		if (this.row(destinationId)) return;
		this.ctx.storage.sql.exec(
			`INSERT INTO grants (destination_id, gate, user_id, user_email, status, reason, sealed, generation, retry_at, failures, updated_at, scope)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)`,
			destinationId,
			gateName,
			row.user_id,
			row.user_email,
			row.status,
			row.reason,
			row.sealed,
			row.generation,
			Date.now(),
			row.scope ?? null,
		);
		await this.mirror(destinationId);
	}

	/** Removes a destination's grant only; other destinations of the same user keep theirs. */
	async remove(destinationId: string): Promise<void> {
		this.ctx.storage.sql.exec(`DELETE FROM grants WHERE destination_id = ?`, destinationId);
		log("info", "grant_removed", { destinationId });
		await this.mirror(destinationId);
	}

	/** The connection record of a destination as this gate knows it (strongly consistent), or null. */
	connection(destinationId: string): ConnectionRecord | null {
		const row = this.row(destinationId);
		if (!row) return null;
		return {
			gate: row.gate,
			user: { id: row.user_id, email: row.user_email },
			status: row.status,
			...(row.reason ? { reason: row.reason } : {}),
			updatedAt: new Date(row.updated_at).toISOString(),
			grant: row.sealed,
			generation: row.generation,
			...(row.scope ? { scope: row.scope } : {}),
		};
	}

	/**
	 * A valid access token for the destination, refreshed ahead of expiry, one refresh at a time however many
	 * callers ask. `rejected`: a token Outreach just answered 401 for — refresh unless it was already replaced.
	 */
	async accessToken(destinationId: string, rejected?: string): Promise<AccessResult> {
		for (let round = 0; ; round++) {
			const joined = this.pending.get(destinationId);
			const result = await (joined ?? this.startResolve(destinationId, rejected));
			// A caller reporting a rejected token may have joined a resolution that began before the 401 and so
			// answered that very token: it asks again (a few times at most), now with the rejection known.
			const stale = result.ok && rejected !== undefined && result.token === rejected;
			if (!joined || !stale || round >= 2) return result;
		}
	}

	/**
	 * Marks the destination's connection lost (e.g. a scope is missing); its updates are then held. Only the
	 * grant generation that received the refusal is marked: a 403 answered to a token of an older grant, after
	 * a reconnect, leaves the new grant alone.
	 */
	async markReconnectRequired(destinationId: string, reason: string, generation?: number): Promise<void> {
		const row = this.row(destinationId);
		if (!row || (generation !== undefined && generation !== row.generation)) return;
		this.markLost(destinationId, row.generation, reason);
		await this.mirror(destinationId);
	}

	/** Mirrors again every connection whose KV write failed; answers whether some are still not written. */
	async healMirrors(): Promise<boolean> {
		const ids = this.ctx.storage.sql.exec<{ destination_id: string }>(`SELECT destination_id FROM mirror_pending`).toArray();
		for (const { destination_id } of ids) await this.mirror(destination_id);
		return this.ctx.storage.sql.exec(`SELECT 1 FROM mirror_pending LIMIT 1`).toArray().length > 0;
	}

	/** The destinations whose grants this gate holds (connected or not). */
	destinations(): string[] {
		return this.ctx.storage.sql.exec<{ destination_id: string }>(`SELECT destination_id FROM grants`).toArray().map((r) => r.destination_id);
	}

	// ─── internals ──────────────────────────────────────────────────────────────────────────────────────

	/** Starts the one resolution for this destination; it is forgotten when it settles. */
	private startResolve(destinationId: string, rejected: string | undefined): Promise<AccessResult> {
		// Set synchronously, before any await, so every caller arriving later joins this promise.
		const p: Promise<AccessResult> = this.resolve(destinationId, rejected).finally(() => {
			if (this.pending.get(destinationId) === p) this.pending.delete(destinationId);
		});
		this.pending.set(destinationId, p);
		return p;
	}

	private async resolve(destinationId: string, rejected: string | undefined): Promise<AccessResult> {
		const row = this.row(destinationId);
		if (!row) return notConnected(destinationId);
		if (row.status === "reconnect_required") return reconnectRequired(row.reason);
		const opened = await this.open(destinationId, row);
		if (!opened.ok) return opened.result;
		const grant = opened.grant;
		const now = Date.now();
		const usable = grant.accessToken !== rejected && grant.expiresAt - now > margin(grant, LAST_USE);
		if (usable && !refreshDue(grant, now)) return { ok: true, token: grant.accessToken, generation: row.generation };
		if (row.retry_at > now) {
			// Backing off after a transient failure: keep using the current token while it lasts.
			if (usable) return { ok: true, token: grant.accessToken, generation: row.generation };
			return unavailable(row.reason ?? "Outreach's token endpoint failed recently", row.retry_at - now);
		}
		if (!grant.refreshToken) {
			this.markLost(destinationId, row.generation, "Outreach gave no refresh token with this grant. Reconnect the destination.");
			await this.mirror(destinationId);
			return reconnectRequired(this.row(destinationId)?.reason ?? null);
		}
		return this.refresh(destinationId, row, grant, usable);
	}

	/** One token request for this destination; the caller (resolve) guarantees nobody else is refreshing it. */
	private async refresh(destinationId: string, row: GrantRow, grant: SealedGrant, stillUsable: boolean): Promise<AccessResult> {
		const result = await refreshGrant(this.env, grant.refreshToken);
		if (result.ok) {
			log("info", "token_refreshed", { destinationId, userId: row.user_id });
			return this.persistRefreshed(destinationId, row, result);
		}
		if (result.kind === "lost") {
			log("warn", "token_lost", { destinationId, userId: row.user_id, reason: result.reason });
			if (!this.markLost(destinationId, row.generation, result.reason)) return this.afterRace(destinationId);
			await this.mirror(destinationId);
			return reconnectRequired(result.reason);
		}
		const backoffMs = this.backoff(row.failures + 1, result.retryAfterMs);
		log("warn", "token_refresh_unavailable", { destinationId, userId: row.user_id, reason: result.reason, retryAfterMs: backoffMs });
		this.ctx.storage.sql.exec(
			`UPDATE grants SET retry_at = ?, failures = failures + 1, reason = ? WHERE destination_id = ? AND generation = ?`,
			Date.now() + backoffMs,
			result.reason,
			destinationId,
			row.generation,
		);
		if (stillUsable) return { ok: true, token: grant.accessToken, generation: row.generation };
		return unavailable(result.reason, backoffMs);
	}

	private async persistRefreshed(destinationId: string, row: GrantRow, result: Extract<TokenResult, { ok: true }>): Promise<AccessResult> {
		const next: SealedGrant = { ...result.grant, obtainedAt: Date.now() };
		const sealed = await this.seal(destinationId, next);
		// Guarded by generation: if the grant was replaced or removed while we refreshed, the newer state wins.
		const written = this.ctx.storage.sql.exec(
			`UPDATE grants SET sealed = ?, retry_at = 0, failures = 0, reason = NULL, updated_at = ?
			 WHERE destination_id = ? AND generation = ? AND status = 'connected'`,
			sealed,
			Date.now(),
			destinationId,
			row.generation,
		).rowsWritten;
		if (written === 0) return this.afterRace(destinationId);
		await this.mirror(destinationId);
		return { ok: true, token: next.accessToken, generation: row.generation };
	}

	/**
	 * The answer when the grant changed while its token request was in flight — removed, marked lost, or
	 * replaced by a reconnect (whose new grant then answers; our refreshed tokens of the old one are dropped).
	 */
	private async afterRace(destinationId: string): Promise<AccessResult> {
		const now = this.row(destinationId);
		if (!now) return notConnected(destinationId);
		if (now.status === "reconnect_required") return reconnectRequired(now.reason);
		return this.resolve(destinationId, undefined);
	}

	/** Persists `reconnect_required` for this generation of the grant; false when the grant changed meanwhile. */
	private markLost(destinationId: string, generation: number, reason: string): boolean {
		return (
			this.ctx.storage.sql.exec(
				`UPDATE grants SET status = 'reconnect_required', reason = ?, updated_at = ? WHERE destination_id = ? AND generation = ?`,
				reason,
				Date.now(),
				destinationId,
				generation,
			).rowsWritten > 0
		);
	}

	private backoff(failures: number, serverMs: number | undefined): number {
		const base = config(this.env).RETRY_BASE_SECONDS * 1000;
		const ours = Math.min(MAX_BACKOFF_MS, base * 2 ** Math.min(failures - 1, 20));
		return Math.max(ours, Math.min(serverMs ?? 0, MAX_BACKOFF_MS));
	}

	private row(destinationId: string): GrantRow | null {
		const rows = this.ctx.storage.sql.exec<GrantRow>(`SELECT * FROM grants WHERE destination_id = ?`, destinationId).toArray();
		return rows[0] ?? null;
	}

	private seal(destinationId: string, grant: SealedGrant): Promise<string> {
		return seal(this.env, JSON.stringify(grant), grantContext(destinationId));
	}

	/** Opens a row's sealed grant. A grant that cannot be opened is lost; a missing key is an operator problem. */
	private async open(destinationId: string, row: GrantRow): Promise<{ ok: true; grant: SealedGrant } | { ok: false; result: AccessResult }> {
		let plain: string;
		try {
			plain = await unseal(this.env, row.sealed, grantContext(destinationId));
		} catch (err) {
			if (err instanceof UnsealError) return this.unreadable(destinationId, row, err.message);
			// TOKEN_ENCRYPTION_KEY missing or malformed: fixable without a reconnect, so the grant is kept.
			return { ok: false, result: unavailable(err instanceof Error ? err.message : String(err), 60_000) };
		}
		const parsed = SealedGrant.safeParse(parseJson(plain));
		return parsed.success ? { ok: true, grant: parsed.data } : this.unreadable(destinationId, row, "unexpected content");
	}

	private async unreadable(destinationId: string, row: GrantRow, why: string): Promise<{ ok: false; result: AccessResult }> {
		const reason = `The stored grant cannot be decrypted (${why}). Reconnect the destination.`;
		log("error", "grant_unreadable", { destinationId, reason });
		if (this.markLost(destinationId, row.generation, reason)) await this.mirror(destinationId);
		return { ok: false, result: reconnectRequired(reason) };
	}

	/**
	 * Writes the row's current state to KV `connection:<id>` (or deletes it). Chained per destination and read
	 * at write time, so however writes interleave, the last one reflects the latest row. A KV failure is not
	 * thrown (SQLite is the authority): the destination is noted in `mirror_pending` and the gate's alarm
	 * writes it again until it sticks (`healMirrors`).
	 */
	private mirror(destinationId: string): Promise<void> {
		const store = destinationStore(this.env);
		const previous = this.mirrors.get(destinationId) ?? Promise.resolve();
		const next = previous.then(async () => {
			const record = this.connection(destinationId);
			try {
				if (record) await store.putConnection(destinationId, record);
				else await store.deleteConnection(destinationId);
				this.ctx.storage.sql.exec(`DELETE FROM mirror_pending WHERE destination_id = ?`, destinationId);
			} catch (err) {
				log("error", "connection_mirror_failed", { destinationId, error: err instanceof Error ? err.name : "Error" });
				this.ctx.storage.sql.exec(`INSERT OR IGNORE INTO mirror_pending (destination_id, since) VALUES (?, ?)`, destinationId, Date.now());
				this.onMirrorFailed();
			}
		});
		this.mirrors.set(destinationId, next);
		void next.finally(() => {
			if (this.mirrors.get(destinationId) === next) this.mirrors.delete(destinationId);
		});
		return next;
	}
}

/** `rule.ms`, or `rule.fraction` of the token's life when that is shorter. */
function margin(grant: SealedGrant, rule: { ms: number; fraction: number }): number {
	return Math.min(rule.ms, Math.max(0, grant.expiresAt - grant.obtainedAt) * rule.fraction);
}

/** Whether the access token should be refreshed now (see REFRESH_AHEAD). */
function refreshDue(grant: SealedGrant, now: number): boolean {
	return grant.expiresAt - now < margin(grant, REFRESH_AHEAD);
}

function parseJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

const notConnected = (destinationId: string): AccessResult => ({
	ok: false,
	status: "not_connected",
	reason: `Destination ${destinationId} is not connected to Outreach. Connect it (POST /api/destinations/${destinationId}/connect).`,
});

const reconnectRequired = (reason: string | null): AccessResult => ({
	ok: false,
	status: "reconnect_required",
	reason: reason ?? "The Outreach connection was lost. Reconnect the destination.",
});

const unavailable = (reason: string, retryAfterMs: number): AccessResult => ({ ok: false, status: "unavailable", reason, retryAfterMs });
