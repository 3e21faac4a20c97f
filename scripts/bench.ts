/**
 * `npm run bench`: our destination against the strategy of the open-source Outreach connectors, on the same
 * load, in one run. Starts the local Outreach and the Worker (`wrangler dev`, state in a temporary folder)
 * with a compressed rate-limit window, posts generated AEP profiles, waits until every update is delivered,
 * failed or superseded, checks each prospect's final state, then runs the baseline. Progress goes to stderr;
 * stdout ends with one JSON line (the design's "Benchmark output").
 *
 *   npm run bench -- [--profiles 900] [--prospects 650] [--limit 300] [--window 30] [--concurrency 4]
 *                    [--seed 42] [--port 8797] [--outreach-port 8798] [--skip-baseline] [--stack-log FILE]
 */
import { constants } from "node:fs";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runBaseline } from "./bench/baseline.ts";
import { outreachControl } from "./bench/http.ts";
import { requestsOf, runOurs, type RunOptions } from "./bench/ours.ts";
import { generateLoad } from "./bench/profiles.ts";
import type { RunReport } from "./bench/report.ts";
import { generateDevVars, projectRoot, startStack, type Stack } from "./stack.ts";

const { values: flags } = parseArgs({
	options: {
		profiles: { type: "string", default: "900" },
		prospects: { type: "string", default: "650" },
		limit: { type: "string", default: "300" },
		window: { type: "string", default: "30" },
		concurrency: { type: "string", default: "4" },
		seed: { type: "string", default: "42" },
		port: { type: "string", default: "8797" },
		"outreach-port": { type: "string", default: "8798" },
		"skip-baseline": { type: "boolean", default: false },
		// Where to write the Worker's and the local Outreach's output (wrangler's request log, structured logs).
		"stack-log": { type: "string" },
	},
});

function positive(name: string): number {
	const n = Number(flags[name as keyof typeof flags]);
	if (!Number.isInteger(n) || n <= 0) {
		console.error(`--${name} must be a positive whole number`);
		process.exit(2);
	}
	return n;
}

const cfg = {
	profiles: positive("profiles"),
	prospects: positive("prospects"),
	limit: positive("limit"),
	windowSeconds: positive("window"),
	concurrency: positive("concurrency"),
	seed: positive("seed"),
	workerPort: positive("port"),
	outreachPort: positive("outreach-port"),
};
const PER_REQUEST = 10; // AEP aggregates at most 10 profiles per request

const started = Date.now();
const log = (line: string) => process.stderr.write(`[bench ${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s] ${line}\n`);

/** RAM-backed when the machine has it, so a shared disk's fsync stalls do not show up as ingest latency. */
async function tempParent(): Promise<string> {
	try {
		await access("/dev/shm", constants.W_OK);
		return "/dev/shm";
	} catch {
		return tmpdir();
	}
}
const stateDir = await mkdtemp(join(await tempParent(), "aep-outreach-bench-"));
let stack: Stack | undefined;
let cleaning: Promise<void> | undefined;
/** Stops both processes and removes the temporary state, once, however the run ends. */
function cleanup(): Promise<void> {
	cleaning ??= (async () => {
		await stack?.stop().catch(() => {});
		if (stack && flags["stack-log"]) await writeFile(flags["stack-log"], stack.output()).catch(() => {});
		await rm(stateDir, { recursive: true, force: true }).catch(() => {});
		// The private env file startStack wrote holds this run's generated admin token.
		await rm(join(projectRoot, ".wrangler", `stack-${cfg.workerPort}.env`), { force: true }).catch(() => {});
	})();
	return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"] as const)
	process.once(signal, () => {
		log(`${signal}: stopping the stack`);
		void cleanup().then(() => process.exit(130));
	});

function table(ours: RunReport, baseline: RunReport | null): string {
	const rows: [string, keyof RunReport][] = [
		["PATCH calls", "patchCalls"],
		["429 answers", "status429"],
		["budget utilization", "budgetUtilization"],
		["backlog (s)", "backlogSeconds"],
		["drain after last ingest (s)", "drainSeconds"],
		["ingest p50 (ms)", "ingestP50Ms"],
		["ingest p99 (ms)", "ingestP99Ms"],
		["ingest over 2 s", "ingestOver2s"],
		["end-to-end p50 (ms)", "e2eP50Ms"],
		["end-to-end p99 (ms)", "e2eP99Ms"],
		["lost", "lost"],
		["max calls in any window", "maxCallsInAnyWindow"],
		["DO calls per PATCH", "doCallsPerPatch"],
		["queue messages per profile", "queueMessagesPerProfile"],
		["KV reads per profile", "kvReadsPerProfile"],
	];
	const fmt = (v: unknown) => (v === null || v === undefined ? "—" : String(v));
	const lines = [`| ${"".padEnd(28)} | ${"ours".padStart(10)} | ${"baseline".padStart(10)} |`, `|${"-".repeat(30)}|${"-".repeat(12)}|${"-".repeat(12)}|`];
	for (const [label, key] of rows) lines.push(`| ${label.padEnd(28)} | ${fmt(ours[key]).padStart(10)} | ${fmt(baseline?.[key]).padStart(10)} |`);
	return lines.join("\n");
}

let exitCode = 0;
try {
	const load = generateLoad({ profiles: cfg.profiles, prospects: cfg.prospects, seed: cfg.seed });
	log(`load: ${cfg.profiles} profiles over ${load.expected.size} prospects (seed ${cfg.seed}); limit ${cfg.limit} calls per ${cfg.windowSeconds} s`);
	const outreachUrl = `http://127.0.0.1:${cfg.outreachPort}`;
	const devVars = generateDevVars(outreachUrl);
	const adminToken = devVars.ADMIN_TOKEN!;
	const vars = {
		...devVars,
		OUTREACH_RATE_LIMIT: String(cfg.limit),
		OUTREACH_RATE_WINDOW_SECONDS: String(cfg.windowSeconds),
		RETRY_BASE_SECONDS: "2",
	};
	log(`starting the local Outreach (:${cfg.outreachPort}) and the Worker (wrangler dev :${cfg.workerPort}, state in ${stateDir})`);
	stack = await startStack({ workerPort: cfg.workerPort, outreachPort: cfg.outreachPort, persistTo: stateDir, vars });
	const outreach = outreachControl(stack.outreachUrl);
	const opts: RunOptions = { limit: cfg.limit, windowSeconds: cfg.windowSeconds, concurrency: cfg.concurrency, perRequest: PER_REQUEST, log };

	const { wrongProspects, schedule, ...ours } = await runOurs({ workerUrl: stack.workerUrl, adminToken }, outreach, load, opts);
	if (wrongProspects.length) log(`ours: prospects not in their expected state: ${wrongProspects.slice(0, 20).join(", ")}${wrongProspects.length > 20 ? " …" : ""}`);
	let baseline: RunReport | null = null;
	if (!flags["skip-baseline"]) {
		const { wrongProspects: peerWrong, ...peer } = await runBaseline(stack.outreachUrl, outreach, load, requestsOf(load, PER_REQUEST), schedule, opts);
		if (peerWrong.length) log(`baseline: ${peerWrong.length} prospects ended with an older value than the latest qualification (arrival order won)`);
		baseline = peer;
	}
	await cleanup();
	if (ours.status429 > 0 || ours.lost > 0 || ours.maxCallsInAnyWindow > cfg.limit) exitCode = 1;
	console.log(table(ours, baseline));
	console.log(JSON.stringify({ ...ours, config: { limit: cfg.limit, windowSeconds: cfg.windowSeconds, concurrency: cfg.concurrency, seed: cfg.seed, profilesPerRequest: PER_REQUEST }, baseline }));
} catch (err) {
	log(`failed: ${err instanceof Error ? err.message : String(err)}`);
	if (stack) log(`last output of the stack:\n${stack.output().slice(-3000)}`);
	exitCode = 1;
} finally {
	await cleanup();
	log(`done in ${Math.round((Date.now() - started) / 1000)} s`);
}
process.exit(exitCode);
