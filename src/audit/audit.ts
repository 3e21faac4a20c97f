import { DurableObject } from "cloudflare:workers";
import { config } from "../platform/config";

/**
 * The audit log: one entry per change made through the admin API or the console (written by the API's guard,
 * src/api/permissions.ts, after the change succeeded). One instance ("audit"), SQLite: a single writer keeps
 * the order, and `seq` pages through it newest first without gaps or repeats. Entries name actors, actions,
 * destinations and prospect ids — never a secret, a token or a profile value: summaries are built from field
 * names, ids and settings only.
 *
 * Kept for AUDIT_RETENTION_DAYS (default 365): the alarm prunes older entries once a day.
 */

export type AuditEntry = { at: string; actor: string; action: string; destinationId: string | null; summary: string };
export type AuditPage = { entries: (AuditEntry & { id: number })[]; nextBefore: number | null };

const DAY = 86_400_000;
/** Summaries are short by design; a long one (many prospect ids) is cut, never split across entries. */
const MAX_SUMMARY = 4000;

export class Audit extends DurableObject<Env> {
	private readonly sql: SqlStorage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		this.sql.exec(`CREATE TABLE IF NOT EXISTS audit (
			seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,
			action TEXT NOT NULL, destination_id TEXT, summary TEXT NOT NULL)`);
		this.sql.exec(`CREATE INDEX IF NOT EXISTS audit_destination ON audit (destination_id, seq)`);
		this.sql.exec(`CREATE INDEX IF NOT EXISTS audit_at ON audit (at_ms)`);
	}

	async record(entry: AuditEntry): Promise<void> {
		const summary = entry.summary.length > MAX_SUMMARY ? `${entry.summary.slice(0, MAX_SUMMARY - 1)}…` : entry.summary;
		this.sql.exec(
			`INSERT INTO audit (at, at_ms, actor, action, destination_id, summary) VALUES (?, ?, ?, ?, ?, ?)`,
			entry.at,
			Date.parse(entry.at),
			entry.actor,
			entry.action,
			entry.destinationId,
			summary,
		);
		if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + DAY);
	}

	/** Newest first, `limit` entries older than entry `before` (its `id`), optionally of one destination. */
	list(opts: { destinationId?: string; limit: number; before?: number }): AuditPage {
		const where: string[] = [];
		const args: (string | number)[] = [];
		if (opts.destinationId !== undefined) {
			where.push("destination_id = ?");
			args.push(opts.destinationId);
		}
		if (opts.before !== undefined) {
			where.push("seq < ?");
			args.push(opts.before);
		}
		const rows = this.sql
			.exec<{ seq: number; at: string; actor: string; action: string; destination_id: string | null; summary: string }>(
				`SELECT seq, at, actor, action, destination_id, summary FROM audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`,
				...args,
				opts.limit + 1,
			)
			.toArray();
		const entries = rows.slice(0, opts.limit).map((r) => ({ id: r.seq, at: r.at, actor: r.actor, action: r.action, destinationId: r.destination_id, summary: r.summary }));
		return { entries, nextBefore: rows.length > opts.limit ? entries[entries.length - 1]!.id : null };
	}

	/** Deletes entries older than AUDIT_RETENTION_DAYS; answers how many. */
	prune(now = Date.now()): number {
		const cutoff = now - config(this.env).AUDIT_RETENTION_DAYS * DAY;
		return this.sql.exec(`DELETE FROM audit WHERE at_ms < ?`, cutoff).rowsWritten;
	}

	override async alarm(): Promise<void> {
		this.prune();
		await this.ctx.storage.setAlarm(Date.now() + DAY);
	}
}

export function auditStub(env: Env): DurableObjectStub<Audit> {
	return env.AUDIT.getByName("audit") as DurableObjectStub<Audit>;
}
