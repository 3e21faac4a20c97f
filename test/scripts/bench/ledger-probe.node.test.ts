import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SentRequest } from "../../../scripts/bench/aep.ts";
import { folderBytes, ingestRate, objectFiles, probeLedger } from "../../../scripts/bench/ledger-probe.ts";

/**
 * The benchmark's ledger probe (issue 21, "Scale, measured once"): its ingest rate from AEP's send log, the
 * Durable Objects' SQLite files found under wrangler's state folder and read with node:sqlite, and a probe
 * that cannot measure something answering null for it instead of failing the benchmark.
 */

const sent = (index: number, sentAt: number, answeredAt: number, accepted: number, dropped = false): SentRequest => ({
	index,
	sentAt,
	answeredAt,
	status: dropped ? 503 : 202,
	attempts: 1,
	accepted,
	dropped,
});

describe("the ledger probe", () => {
	let dir: string;
	beforeAll(async () => {
		dir = await mkdtemp(join(tmpdir(), "ledger-probe-"));
		const ledgers = join(dir, "v3/do/aep-outreach-destination-Ledger");
		await mkdir(ledgers, { recursive: true });
		await mkdir(join(dir, "v3/do/aep-outreach-destination-Gate"), { recursive: true });
		// The bench's ledger, a smaller one (the warm-up's), and miniflare's own metadata file.
		for (const [name, rows] of [["big", 500], ["small", 1]] as const) {
			const db = new DatabaseSync(join(ledgers, `${name}.sqlite`));
			db.exec(`CREATE TABLE updates (id TEXT PRIMARY KEY, state TEXT NOT NULL, source TEXT); CREATE TABLE counts (scope TEXT, key TEXT, name TEXT, n INTEGER)`);
			const insert = db.prepare(`INSERT INTO updates VALUES (?, ?, ?)`);
			// One transaction: 500 autocommits are 500 fsyncs, seconds on a busy disk.
			db.exec("BEGIN");
			for (let i = 0; i < rows; i++) insert.run(`r:${i}`, i % 5 === 0 ? "failed" : "delivered", "x".repeat(200));
			db.exec("COMMIT");
			db.close();
		}
		await writeFile(join(ledgers, "metadata.sqlite"), "x".repeat(100_000));
	});
	afterAll(async () => {
		await rm(dir, { recursive: true, force: true });
	});

	it("measures ingest from the first request sent to the last answered, counting only what was accepted", () => {
		const r = ingestRate([sent(0, 1_000, 1_500, 100), undefined, sent(2, 2_000, 3_000, 100), sent(3, 2_500, 2_900, 0, true)], (i) => i * 500, 1_000);
		expect(r).toEqual({ profilesAccepted: 200, ingestSeconds: 2, ingestProfilesPerSecond: 100, ingestBehindScheduleSeconds: 0 });
		// Request 2 was planned at +1,000 ms and sent at +1,000: on time; a later send shows how far behind the Worker left AEP.
		expect(ingestRate([sent(0, 1_000, 4_000, 10), sent(1, 4_000, 4_100, 10)], (i) => i * 100, 1_000).ingestBehindScheduleSeconds).toBe(2.9);
		expect(ingestRate([], () => 0, null)).toEqual({ profilesAccepted: 0, ingestSeconds: null, ingestProfilesPerSecond: null, ingestBehindScheduleSeconds: null });
	});

	it("finds an object class's SQLite files, largest first, and not miniflare's metadata", async () => {
		const files = await objectFiles(dir, "Ledger");
		expect(files.map((f) => f.file)).toEqual(["v3/do/aep-outreach-destination-Ledger/big.sqlite", "v3/do/aep-outreach-destination-Ledger/small.sqlite"]);
		expect(await objectFiles(dir, "Gate")).toEqual([]);
		const bytes = await folderBytes(dir);
		expect(bytes.byFolder["v3/do"]).toBe(bytes.total);
	});

	it("reports what it could measure and null for the rest, without throwing", async () => {
		const lines: string[] = [];
		const p = await probeLedger({
			// Nothing listens on port 9 of 127.0.0.1: activity and failures cannot be timed.
			workerUrl: "http://127.0.0.1:9",
			adminToken: "t",
			destinationId: "d",
			sent: [sent(0, 0, 1_000, 50)],
			plannedAt: () => 0,
			sendStartedAt: 0,
			stateDir: dir,
			log: (l) => lines.push(l),
		});
		expect(p.ingestProfilesPerSecond).toBe(50);
		expect(p.activityMs).toBeNull();
		expect(p.failuresMs).toBeNull();
		expect(p.ledger?.file).toBe("v3/do/aep-outreach-destination-Ledger/big.sqlite");
		expect(p.ledger?.rows).toEqual({ counts: 0, updates: 500 });
		expect(p.ledger?.objectBytes?.updates).toBeGreaterThan(100_000);
		expect(p.ledgerUpdatesByState).toEqual({ delivered: 400, failed: 100 });
		expect(p.gate).toBeNull();
		expect(p.stateBytes?.total).toBeGreaterThan(100_000);
		expect(lines.join("\n")).toMatch(/activity not timed[\s\S]*failures not timed[\s\S]*no Gate SQLite file/);

		const missing = await probeLedger({ workerUrl: "http://127.0.0.1:9", adminToken: "t", destinationId: "d", sent: [], plannedAt: () => 0, sendStartedAt: null, stateDir: join(dir, "gone"), log: () => {} });
		expect(missing).toMatchObject({ ledger: null, gate: null, stateBytes: null, ingestProfilesPerSecond: null });
	});
});
