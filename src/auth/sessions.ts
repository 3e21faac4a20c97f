import { DurableObject } from "cloudflare:workers";

/**
 * The console's live sessions, on the server: a session exists from sign-in until it expires or its owner
 * signs out, so a copied cookie stops working the moment its session ends (design: "Console sessions are
 * revocable"). One instance ("console") holds them all; the cookie (src/auth/session.ts) carries only a signed id.
 */
export class Sessions extends DurableObject<Env> {
	private readonly sql: SqlStorage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		this.sql.exec(`CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`);
	}

	start(id: string, expiresAt: number): void {
		this.sql.exec(`DELETE FROM sessions WHERE expires_at < ?`, Date.now());
		this.sql.exec(`INSERT OR REPLACE INTO sessions (id, expires_at) VALUES (?, ?)`, id, expiresAt);
	}

	/** True while the session was started and neither ended nor expired. */
	live(id: string): boolean {
		return this.sql.exec(`SELECT 1 FROM sessions WHERE id = ? AND expires_at > ?`, id, Date.now()).toArray().length > 0;
	}

	end(id: string): void {
		this.sql.exec(`DELETE FROM sessions WHERE id = ?`, id);
	}
}

export function sessionsStub(env: Env): DurableObjectStub<Sessions> {
	return env.SESSIONS.getByName("console") as DurableObjectStub<Sessions>;
}
