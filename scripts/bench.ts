/**
 * `npm run bench`: the benchmark of design.md ("Benchmark output"). Starts the local Outreach and the Worker
 * (`wrangler dev`, state in a temporary folder) at a compressed clock, generates a realistic AEP load from the
 * seed, and runs it through each strategy one after another, each against a freshly reset local Outreach
 * holding the prospects' initial state: `ours` (the Worker), then the peers `aepNative` and `isolateLimiter`
 * (Node clients in scripts/bench/peers.ts); `lowerBound` is computed. The bulk back-fills (`backfill-bulk`,
 * `backfill-bulk-mixed`) run ours alone with bulk on; `--bulk` runs the stream's ours with bulk on (the peers
 * as ever). What each scenario runs is scripts/bench/scenarios.ts. Every figure comes from ground truth (the
 * local Outreach's final state, request log, write log and stats). After ours drained, `ours.ledger` probes the
 * ledger at scale (scripts/bench/ledger-probe.ts): ingest throughput, activity's and failures' answer times, and
 * the ledger's and the gate's SQLite sizes and rows. Progress goes to stderr; stdout gets the table and then one
 * JSON object as its last line.
 *
 *   npm run bench -- [--scenario backfill|stream|backfill-bulk|backfill-bulk-mixed] [--bulk] [--profiles N]
 *                    [--seed 42] [--limit 200] [--window 10] [--concurrency 4] [--prospects N]
 *                    [--stream-windows 15] [--skip-peers] [--drain-cap SECONDS] [--stack-log FILE] [--keep-state] [--port 8797] [--outreach-port 8798]
 *   npm run bench -- --report FILE    (redraws the table from a saved run's output)
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { collectTruth, figuresOf, type Details, type Figures, type Observed } from "./bench/figures.ts";
import { outreachControl } from "./bench/http.ts";
import { BACKFILLS, backfillLoad, lowerBound, streamLoad, type BenchLoad } from "./bench/loads.ts";
import { describeProbe, probeLedger, type LedgerAtScale } from "./bench/ledger-probe.ts";
import { runOurs } from "./bench/ours.ts";
import { runAepNative, runIsolateLimiter, type PeerContext } from "./bench/peers.ts";
import { compressedRates, planOf } from "./bench/scenarios.ts";
import { renderTable, resultIn, type BenchResult } from "./bench/table.ts";
import { generateDevVars, scratchStack } from "./stack.ts";

const { values: flags } = parseArgs({
	options: {
		scenario: { type: "string", default: "backfill" },
		// The stream with ours' bulk path on (the peers as ever).
		bulk: { type: "boolean", default: false },
		profiles: { type: "string" },
		prospects: { type: "string" },
		"stream-windows": { type: "string", default: "15" },
		limit: { type: "string", default: "200" },
		window: { type: "string", default: "10" },
		concurrency: { type: "string", default: "4" },
		seed: { type: "string", default: "42" },
		port: { type: "string", default: "8797" },
		"outreach-port": { type: "string", default: "8798" },
		"skip-peers": { type: "boolean", default: false },
		// The most a drain may take, in seconds, instead of the scenario's cap (a scale run takes as long as it needs).
		"drain-cap": { type: "string" },
		// Where to write the Worker's and the local Outreach's whole output (wrangler's request log, structured logs).
		"stack-log": { type: "string" },
		// Keep the stack's state folder (ledgers, gates as SQLite files) after the run, to inspect it.
		"keep-state": { type: "boolean", default: false },
		report: { type: "string" },
	},
});

if (flags.report) {
	const result = resultIn(await readFile(flags.report, "utf8"));
	if (!result) {
		console.error(`${flags.report} holds no benchmark JSON line`);
		process.exit(2);
	}
	console.log(renderTable(result));
	process.exit(0);
}

function whole(name: string, fallback?: number): number {
	const raw = flags[name as keyof typeof flags];
	const n = raw === undefined ? fallback : Number(raw);
	if (n === undefined || !Number.isInteger(n) || n <= 0) {
		console.error(`--${name} must be a positive whole number`);
		process.exit(2);
	}
	return n;
}

const limit = whole("limit");
const windowSeconds = whole("window");
const planned = planOf(flags.scenario, { bulk: flags.bulk, limit, streamWindows: whole("stream-windows") });
if ("error" in planned) {
	console.error(planned.error);
	process.exit(2);
}
const plan = planned;
const scenario = plan.scenario;
const cfg = {
	limit,
	windowSeconds,
	// backfill, backfill-bulk and backfill-bulk-mixed: members of the activated segments; stream: profiles over the stream.
	profiles: whole("profiles", plan.defaultProfiles),
	seed: whole("seed"),
	concurrency: whole("concurrency"),
	workerPort: whole("port"),
	outreachPort: whole("outreach-port"),
};
const { bulkItemsPerSecond, importRecordsPerSecond } = compressedRates(limit, windowSeconds);
// AEP retries a failed request 15 s and 30 s later; the clock is compressed by windowSeconds ÷ 3600.
const aepRetryDelaysMs = [15_000, 30_000].map((ms) => (ms * windowSeconds) / 3600);

const started = Date.now();
const log = (line: string) => process.stderr.write(`[bench ${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s] ${line}\n`);

function generate(): BenchLoad {
	const windowMs = windowSeconds * 1000;
	if (scenario === "stream") {
		const windows = whole("stream-windows");
		return streamLoad({ pool: whole("prospects", 3000), seed: cfg.seed, limit, windowMs, windows, share: cfg.profiles / (limit * windows) });
	}
	return backfillLoad({ members: cfg.profiles, seed: cfg.seed, hourMs: windowMs, scenario, ...BACKFILLS[scenario] });
}

const scratch = await scratchStack({ name: "bench", workerPort: cfg.workerPort, stackLog: flags["stack-log"], keepState: flags["keep-state"], log });

/** What explains a strategy's wrong figures: the first few stale and unknown writes and wrong prospects. */
function explain(name: string, d: Details): void {
	const show = (what: string, items: unknown[]) => {
		if (items.length) log(`${name}: ${items.length} ${what}, e.g. ${items.slice(0, 3).map((i) => JSON.stringify(i)).join("; ")}`);
	};
	show("stale writes", d.stale);
	show("writes of a value no version had by then", d.unknown);
	show("prospect fields not in their expected state", d.wrong);
}

const config: Record<string, unknown> = { limit, windowSeconds, profiles: cfg.profiles, seed: cfg.seed, concurrency: cfg.concurrency, perRequest: scenario === "stream" ? 10 : BACKFILLS[scenario].requestSize };
let exitCode = 0;
try {
	const load = generate();
	Object.assign(
		config,
		{ load: load.shape, aepRetrySeconds: aepRetryDelaysMs.map((ms) => ms / 1000) },
		plan.bulkApi ? { bulkApi: true, bulkItemsPerSecond, importRecordsPerSecond } : {},
	);
	const bound = lowerBound(load, limit, windowSeconds);
	log(
		`${scenario}${scenario === "stream" && plan.bulkApi ? " --bulk" : ""}: ${load.shape.profiles} profiles in ${load.requests.length} requests over ${load.initial.size} prospects (seed ${cfg.seed}); ` +
			`limit ${limit} calls per ${windowSeconds} s; lowerBound ${bound.calls} calls = ${bound.windows} windows = ${bound.drainSeconds} s`,
	);
	if (scenario !== "stream" && bound.windows < 20) log(`note: backlogWindows ${bound.windows} < 20 — too small a load to show a strategy's drain (fine while developing)`);

	const outreachUrl = `http://127.0.0.1:${cfg.outreachPort}`;
	const vars: Record<string, string> = { ...generateDevVars(outreachUrl), OUTREACH_RATE_LIMIT: String(limit), OUTREACH_RATE_WINDOW_SECONDS: String(windowSeconds), RETRY_BASE_SECONDS: "2" };
	log(`starting the local Outreach (:${cfg.outreachPort}) and the Worker (wrangler dev :${cfg.workerPort}, state in ${scratch.stateDir})`);
	const stack = await scratch.start({
		outreachPort: cfg.outreachPort,
		vars,
		outreachArgs: [
			...["--rate-limit", String(limit), "--window-seconds", String(windowSeconds)],
			...["--bulk-items-per-second", String(bulkItemsPerSecond), "--imports-records-per-second", String(importRecordsPerSecond)],
		],
	});
	const outreach = outreachControl(stack.outreachUrl);
	const resetBody = {
		rateLimit: { limit, windowSeconds },
		bulk: { itemsPerSecond: bulkItemsPerSecond },
		imports: { recordsPerSecond: importRecordsPerSecond },
		prospects: [...load.initial].map(([id, attributes]) => (Object.keys(attributes).length ? { id, attributes } : id)),
	};
	const lastPlanned = load.requests.reduce((last, r) => Math.max(last, r.at), 0) / 1000;
	// How long a strategy may drain before the benchmark stops waiting (each scenario must end within 15 min).
	const budgetSeconds = Math.max(120, 2 * bound.drainSeconds + 6 * windowSeconds, lastPlanned + 6 * windowSeconds);
	const drainCap = flags["drain-cap"] === undefined ? (plan.drainCapSeconds ?? Infinity) : whole("drain-cap");
	const drainBudgetMs = 1000 * Math.min(budgetSeconds, drainCap);

	const measured: Record<string, Figures | null> = {};
	const measure = async (name: string, run: () => Promise<Observed>, bulkApi = false) => {
		const began = Date.now();
		const obs = await run();
		const { figures, details } = figuresOf(load, bound, { limit, windowSeconds, bulkApi }, obs, await collectTruth(outreach, load));
		explain(name, details);
		log(`${name}: done in ${Math.round((Date.now() - began) / 1000)} s — drainSeconds ${figures.drainSeconds}, lost ${figures.lost}, status429 ${figures.status429}`);
		measured[name] = figures;
	};

	let ledger: LedgerAtScale | null = null;
	await measure(
		"ours",
		async () => {
			const r = await runOurs(
				{ workerUrl: stack!.workerUrl, adminToken: vars.ADMIN_TOKEN!, outreach, load, limit, windowSeconds, concurrency: cfg.concurrency, retryDelaysMs: aepRetryDelaysMs, resetBody, drainBudgetMs, log },
				{ bulkApi: plan.bulkApi },
			);
			log(`ours: activity totals ${JSON.stringify(r.totals)}${r.deliveryPath ? `, delivery path ${r.deliveryPath}` : ""}`);
			// Right after the drain, with the whole ledger in place and the Worker otherwise idle.
			ledger = await probeLedger({
				workerUrl: stack!.workerUrl,
				adminToken: vars.ADMIN_TOKEN!,
				destinationId: r.destinationId,
				sent: r.sent,
				plannedAt: (i) => load.requests[i]!.at,
				sendStartedAt: r.sendStartedAt,
				stateDir: scratch.stateDir,
				log,
			}).catch((err: unknown) => {
				log(`ledger probe: failed — ${err instanceof Error ? err.message : String(err)}`);
				return null;
			});
			if (ledger) log(`ours: ledger at scale — ${describeProbe(ledger)}`);
			return r;
		},
		plan.bulkApi,
	);
	if (measured.ours) measured.ours.ledger = ledger;
	if (plan.peers && !flags["skip-peers"]) {
		const peer: PeerContext = { outreachUrl: stack.outreachUrl, outreach, load, limit, windowSeconds, concurrency: cfg.concurrency, resetBody, drainBudgetMs, log };
		await measure("aepNative", () => runAepNative(peer));
		await measure("isolateLimiter", () => runIsolateLimiter(peer));
	}
	await scratch.stop();

	const result: BenchResult = {
		scenario,
		config,
		backlogWindows: bound.windows,
		lowerBound: bound,
		ours: measured.ours ?? null,
		...(plan.peers ? { aepNative: measured.aepNative ?? null, isolateLimiter: measured.isolateLimiter ?? null } : {}),
	};
	const ours = result.ours!;
	const bad = (["status429", "lost", "failed", "staleWrites", "unknownWrites", "unfilteredRequests", "createdProspects"] as const).filter((k) => (ours[k] ?? 0) > 0);
	if (bad.length || ours.timedOut) {
		exitCode = 1;
		log(`ours: ${[...bad.map((k) => `${k} ${ours[k]}`), ...(ours.timedOut ? ["did not drain within the benchmark's budget"] : [])].join(", ")} — exit status 1`);
	}
	console.log(renderTable(result));
	console.log(JSON.stringify(result));
} catch (err) {
	const message = err instanceof Error ? err.message : String(err);
	log(`failed: ${message}`);
	if (scratch.output()) log(`last output of the stack:\n${scratch.output().slice(-3000)}`);
	console.log(JSON.stringify({ scenario, config, error: message }));
	exitCode = 1;
} finally {
	await scratch.stop();
	log(`done in ${Math.round((Date.now() - started) / 1000)} s`);
}
process.exit(exitCode);
