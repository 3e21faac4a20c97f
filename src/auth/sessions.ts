import { DurableObject } from "cloudflare:workers";
import type { ApiKeyInfo, Principal, Role } from "./principal";

/**
 * Who may in, on the server, in one instance ("console"):
 * - the console's live sessions: a session exists from sign-in until it expires or its owner signs out, so a
 *   copied cookie stops working the moment its session ends (design: "Console sessions are revocable"); the
 *   cookie (src/auth/session.ts) carries only a signed id, the session row who signed in (owner, key, Access);
 * - API keys, as SHA-256 hashes (src/auth/keys.ts): one strongly consistent place, so a deleted key stops at once.
 */
export class Sessions extends DurableObject<Env> {
	private readonly sql: SqlStorage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		this.sql.exec(`CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`);
		// Sessions from before roles were signed in with the admin token: no principal means the owner.
		const columns = this.sql.exec(`PRAGMA table_info(sessions)`).toArray().map((r) => r.name);
		if (!columns.includes("principal")) this.sql.exec(`ALTER TABLE sessions ADD COLUMN principal TEXT`);
		this.sql.exec(`CREATE TABLE IF NOT EXISTS api_keys (
			id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL,
			created_at TEXT NOT NULL, last_used_at TEXT)`);
	}

	start(id: string, expiresAt: number, principal?: Principal): void {
		this.sql.exec(`DELETE FROM sessions WHERE expires_at < ?`, Date.now());
		this.sql.exec(
			`INSERT OR REPLACE INTO sessions (id, expires_at, principal) VALUES (?, ?, ?)`,
			id,
			expiresAt,
			principal ? JSON.stringify(principal) : null,
		);
	}

	/** True while the session was started and neither ended nor expired. */
	live(id: string): boolean {
		return this.who(id) !== null;
	}

	/**
	 * Who a live session belongs to, or null. A session signed in with an API key ends with its key: the key's
	 * row is read again here, so a deleted key (or a changed role) takes effect on the next page.
	 */
	who(id: string): Principal | null {
		const row = this.sql.exec<{ principal: string | null }>(`SELECT principal FROM sessions WHERE id = ? AND expires_at > ?`, id, Date.now()).toArray()[0];
		if (!row) return null;
		const p = row.principal ? (JSON.parse(row.principal) as Principal) : { kind: "owner" as const };
		if (p.kind !== "key") return p;
		const key = this.sql.exec<{ name: string; role: Role }>(`SELECT name, role FROM api_keys WHERE id = ?`, p.id).toArray()[0];
		return key ? { kind: "key", id: p.id, name: key.name, role: key.role } : null;
	}

	end(id: string): void {
		this.sql.exec(`DELETE FROM sessions WHERE id = ?`, id);
	}

	// ─── API keys ────────────────────────────────────────────────────────────────────────────────────────

	createKey(id: string, name: string, role: Role, hash: string, createdAt: string): void {
		this.sql.exec(`INSERT INTO api_keys (id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)`, id, name, role, hash, createdAt);
	}

	listKeys(): ApiKeyInfo[] {
		return this.sql
			.exec<{ id: string; name: string; role: Role; created_at: string; last_used_at: string | null }>(
				`SELECT id, name, role, created_at, last_used_at FROM api_keys ORDER BY created_at, id`,
			)
			.toArray()
			.map((r) => ({ id: r.id, name: r.name, role: r.role, createdAt: r.created_at, lastUsedAt: r.last_used_at }));
	}

	/** Deletes a key and ends the console sessions it opened; answers what it was, or null. */
	deleteKey(id: string): ApiKeyInfo | null {
		const key = this.listKeys().find((k) => k.id === id) ?? null;
		if (!key) return null;
		this.sql.exec(`DELETE FROM api_keys WHERE id = ?`, id);
		return key;
	}

	/**
	 * The key when `hash` is the stored hash of key `id` (compared in constant time), noting its use; else null.
	 * `lastUsedAt` is written at most once a minute, so a busy key does not write on every request.
	 */
	async useKey(id: string, hash: string, now: number): Promise<ApiKeyInfo | null> {
		const row = this.sql
			.exec<{ hash: string; name: string; role: Role; created_at: string; last_used_at: string | null }>(
				`SELECT hash, name, role, created_at, last_used_at FROM api_keys WHERE id = ?`,
				id,
			)
			.toArray()[0];
		// A missing row is compared against a hash of its own, so both answers take the same time.
		const stored = row?.hash ?? "0".repeat(64);
		const a = new TextEncoder().encode(stored.padEnd(64, "0").slice(0, 64));
		const b = new TextEncoder().encode(hash.padEnd(64, "0").slice(0, 64));
		const same = crypto.subtle.timingSafeEqual(a, b) && stored.length === hash.length;
		if (!row || !same) return null;
		let lastUsedAt = row.last_used_at;
		if (!lastUsedAt || Date.parse(lastUsedAt) < now - 60_000) {
			lastUsedAt = new Date(now).toISOString();
			this.sql.exec(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`, lastUsedAt, id);
		}
		return { id, name: row.name, role: row.role, createdAt: row.created_at, lastUsedAt };
	}
}

export function sessionsStub(env: Env): DurableObjectStub<Sessions> {
	return env.SESSIONS.getByName("console") as DurableObjectStub<Sessions>;
}
