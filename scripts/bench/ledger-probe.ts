/**
 * The ledger at scale (issue 21, "Scale, measured once"): after ours drained and before the stack stops, what
 * the run left behind — how fast ingest took the profiles (from AEP's own send log), how long activity and
 * failures take to answer with the whole ledger in place, and how big the ledger's and the gate's SQLite files
 * are, with their rows per table. Each part is measured on its own: one that cannot be measured is null, with
 * a log line saying why, and never fails the benchmark.
 */
import { readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import type { SentRequest } from "./aep.ts";
import { round } from "./stats.ts";

export type Timing = { medianMs: number; maxMs: number; samples: number };

/** A Durable Object's SQLite file: its bytes (with -wal), rows per table, and bytes per table and index. */
export type SqliteFile = {
	/** Its path under the state folder. */
	file: string;
	/** The file and its -wal (what it holds until the next checkpoint). */
	bytes: number;
	walBytes: number;
	/** Null when node:sqlite could not open it (then only the file sizes are known). */
	rows: Record<string, number> | null;
	/** Pages per table and index (SQLite's dbstat), when this build of SQLite has it. */
	objectBytes?: Record<string, number>;
};

export type LedgerAtScale = {
	profilesAccepted: number;
	/** From the first ingest request sent to the last one answered. */
	ingestSeconds: number | null;
	ingestProfilesPerSecond: number | null;
	/**
	 * How far behind its planned moment the latest request was sent: near 0, the load's schedule set the pace
	 * (the throughput is the load's, not the Worker's most); large, the Worker did.
	 */
	ingestBehindScheduleSeconds: number | null;
	activityMs: Timing | null;
	failuresMs: Timing | null;
	/** The benchmark's destination's ledger (the largest Ledger file: the warm-up's was erased). */
	ledger: SqliteFile | null;
	/** Updates per state in the ledger. */
	ledgerUpdatesByState: Record<string, number> | null;
	/** The benchmark user's gate (the largest Gate file). */
	gate: SqliteFile | null;
	/** Everything under the Worker's state folder (KV, queues, every object, wrangler's local traces), by its top folders. */
	stateBytes: { total: number; byFolder: Record<string, number> } | null;
};

/** Ingest throughput from AEP's send log: profiles accepted ÷ the span from the first request sent to the last answered. */
export function ingestRate(sent: (SentRequest | undefined)[], plannedAt: (index: number) => number, startedAt: number | null) {
	const answered = sent.filter((s): s is SentRequest => Boolean(s) && !s!.dropped);
	const profilesAccepted = answered.reduce((n, s) => n + s.accepted, 0);
	if (answered.length === 0) return { profilesAccepted, ingestSeconds: null, ingestProfilesPerSecond: null, ingestBehindScheduleSeconds: null };
	let first = Infinity;
	let last = -Infinity;
	let behind = 0;
	for (const s of answered) {
		first = Math.min(first, s.sentAt);
		last = Math.max(last, s.answeredAt);
		if (startedAt !== null) behind = Math.max(behind, s.sentAt - (startedAt + plannedAt(s.index)));
	}
	const seconds = (last - first) / 1000;
	return {
		profilesAccepted,
		ingestSeconds: round(seconds, 3),
		ingestProfilesPerSecond: seconds > 0 ? round(profilesAccepted / seconds, 0) : null,
		ingestBehindScheduleSeconds: startedAt === null ? null : round(behind / 1000, 1),
	};
}

/** `n` sequential timed GETs; null (with the reason logged) when any of them is not a 200. */
export async function timeGets(url: string, adminToken: string, n: number, what: string, log: (line: string) => void): Promise<Timing | null> {
	const samples: number[] = [];
	try {
		for (let i = 0; i < n; i++) {
			const t = performance.now();
			const res = await fetch(url, { headers: { Authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(120_000) });
			await res.arrayBuffer();
			const ms = performance.now() - t;
			if (res.status !== 200) throw new Error(`answered ${res.status}`);
			samples.push(ms);
		}
	} catch (err) {
		log(`ledger probe: ${what} not timed — ${err instanceof Error ? err.message : String(err)}`);
		return null;
	}
	const sorted = [...samples].sort((a, b) => a - b);
	const mid = sorted.length >> 1;
	const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
	return { medianMs: round(median, 1), maxMs: round(sorted[sorted.length - 1]!, 1), samples: samples.length };
}

async function walk(dir: string, visit: (path: string, name: string, isDir: boolean) => Promise<void>): Promise<void> {
	for (const entry of await readdir(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		await visit(path, entry.name, entry.isDirectory());
		if (entry.isDirectory()) await walk(path, visit);
	}
}

/** Bytes of a file, 0 when it does not exist (a -wal that was checkpointed away). */
const sizeOf = (path: string) => stat(path).then((s) => s.size, () => 0);

/**
 * The SQLite files of a Durable Object class under wrangler's `--persist-to` folder (miniflare keeps each
 * object as `v3/do/<script>-<Class>/<object id>.sqlite`), largest first, with their -wal counted in.
 */
export async function objectFiles(stateDir: string, className: string): Promise<{ path: string; file: string; bytes: number; walBytes: number }[]> {
	const files: { path: string; file: string; bytes: number; walBytes: number }[] = [];
	await walk(stateDir, async (path, name, isDir) => {
		if (isDir || !name.endsWith(".sqlite") || name === "metadata.sqlite" || !path.split(/[\\/]/).at(-2)?.endsWith(`-${className}`)) return;
		const walBytes = await sizeOf(`${path}-wal`);
		files.push({ path, file: relative(stateDir, path), bytes: (await sizeOf(path)) + walBytes, walBytes });
	});
	return files.sort((a, b) => b.bytes - a.bytes);
}

type Db = { prepare(sql: string): { all(...params: unknown[]): unknown[]; get(...params: unknown[]): unknown }; close(): void };

/**
 * Opens a Durable Object's SQLite file read-only (workerd may still have it open: a reader never blocks it)
 * through node:sqlite; null with the reason logged when this Node has no node:sqlite or the file will not open.
 */
async function openReadOnly(file: string, log: (line: string) => void): Promise<Db | null> {
	try {
		const { DatabaseSync } = (await import("node:sqlite")) as unknown as { DatabaseSync: new (path: string, o: { readOnly: boolean }) => Db };
		return new DatabaseSync(file, { readOnly: true });
	} catch (err) {
		log(`ledger probe: ${file} not opened (file sizes only) — ${err instanceof Error ? err.message : String(err)}`);
		return null;
	}
}

/** Rows per table and, where SQLite has dbstat, bytes per table and index. */
export async function describeSqlite(
	found: { path: string; file: string; bytes: number; walBytes: number },
	log: (line: string) => void,
	extra?: (db: Db) => void,
): Promise<SqliteFile> {
	const { path, ...file } = found;
	const db = await openReadOnly(path, log);
	if (!db) return { ...file, rows: null };
	try {
		const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as { name: string }[]).map((t) => t.name);
		const rows: Record<string, number> = {};
		for (const t of tables) rows[t] = (db.prepare(`SELECT COUNT(*) AS n FROM "${t.replace(/"/g, '""')}"`).get() as { n: number }).n;
		let objectBytes: Record<string, number> | undefined;
		try {
			objectBytes = Object.fromEntries(
				// More than one page: the tables and indexes that hold something.
				(db.prepare(`SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name HAVING bytes > 4096 ORDER BY bytes DESC`).all() as { name: string; bytes: number }[]).map((r) => [
					r.name,
					r.bytes,
				]),
			);
		} catch {
			/* a SQLite built without dbstat: rows only */
		}
		extra?.(db);
		return { ...file, rows, ...(objectBytes ? { objectBytes } : {}) };
	} catch (err) {
		log(`ledger probe: ${file.file} not read (file sizes only) — ${err instanceof Error ? err.message : String(err)}`);
		return { ...file, rows: null };
	} finally {
		db.close();
	}
}

/** Bytes under `dir`, in total and by the folders two levels down (wrangler's `v3/<kind>`). */
export async function folderBytes(dir: string): Promise<{ total: number; byFolder: Record<string, number> }> {
	let total = 0;
	const byFolder: Record<string, number> = {};
	await walk(dir, async (path, _name, isDir) => {
		if (isDir) return;
		const size = await sizeOf(path);
		total += size;
		const top = relative(dir, path).split(/[\\/]/).slice(0, 2).join("/");
		byFolder[top] = (byFolder[top] ?? 0) + size;
	});
	return { total, byFolder };
}

/** What the ledger probe needs of the run: the Worker, the destination, AEP's send log and the Worker's state folder. */
export type ProbeContext = {
	workerUrl: string;
	adminToken: string;
	destinationId: string;
	sent: (SentRequest | undefined)[];
	plannedAt: (index: number) => number;
	/** When AEP's sender started (its schedule's zero), or null when unknown. */
	sendStartedAt: number | null;
	stateDir: string;
	log: (line: string) => void;
};

const TIMED_GETS = 5;

export async function probeLedger(ctx: ProbeContext): Promise<LedgerAtScale> {
	const { log } = ctx;
	const base = `${ctx.workerUrl}/api/destinations/${encodeURIComponent(ctx.destinationId)}`;
	const ingest = ingestRate(ctx.sent, ctx.plannedAt, ctx.sendStartedAt);
	const activityMs = await timeGets(`${base}/activity`, ctx.adminToken, TIMED_GETS, "activity", log);
	const failuresMs = await timeGets(`${base}/failures`, ctx.adminToken, TIMED_GETS, "failures", log);

	const find = async (className: string) => {
		try {
			const files = await objectFiles(ctx.stateDir, className);
			if (files.length === 0) log(`ledger probe: no ${className} SQLite file under ${ctx.stateDir}`);
			return files[0] ?? null;
		} catch (err) {
			log(`ledger probe: ${className} files not found — ${err instanceof Error ? err.message : String(err)}`);
			return null;
		}
	};
	const ledgerFile = await find("Ledger");
	let ledgerUpdatesByState: Record<string, number> | null = null;
	const ledger = ledgerFile
		? await describeSqlite(ledgerFile, log, (db) => {
				ledgerUpdatesByState = Object.fromEntries((db.prepare(`SELECT state, COUNT(*) AS n FROM updates GROUP BY state`).all() as { state: string; n: number }[]).map((r) => [r.state, r.n]));
			})
		: null;
	const gateFile = await find("Gate");
	const gate = gateFile ? await describeSqlite(gateFile, log) : null;
	const stateBytes = await folderBytes(ctx.stateDir).catch((err: unknown) => {
		log(`ledger probe: state folder not measured — ${err instanceof Error ? err.message : String(err)}`);
		return null;
	});
	return { ...ingest, activityMs, failuresMs, ledger, ledgerUpdatesByState, gate, stateBytes };
}

const mb = (bytes: number) => `${round(bytes / 1_048_576, 1)} MB`;

/** One line for the progress log. */
export function describeProbe(p: LedgerAtScale): string {
	const t = (x: Timing | null) => (x ? `${x.medianMs}/${x.maxMs} ms` : "—");
	const file = (f: SqliteFile | null) => (f ? `${mb(f.bytes)}${f.rows ? `, ${Object.values(f.rows).reduce((a, b) => a + b, 0).toLocaleString("en-US")} rows` : ""}` : "—");
	return (
		`ingest ${p.ingestProfilesPerSecond ?? "—"} profiles/s (${p.profilesAccepted} in ${p.ingestSeconds ?? "—"} s, ${p.ingestBehindScheduleSeconds ?? "—"} s behind schedule at most); ` +
		`activity ${t(p.activityMs)} and failures ${t(p.failuresMs)} (median/max); ledger ${file(p.ledger)} (updates ${p.ledger?.rows?.updates ?? "—"}); gate ${file(p.gate)}; state ${p.stateBytes === null ? "—" : mb(p.stateBytes.total)}`
	);
}
