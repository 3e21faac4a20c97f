/**
 * `npm run ingest-size`: how large an ingest body the Worker answers within AEP's deadline — the measurement
 * behind `INGEST_MAX_BYTES`'s default (README "Ingest body size"). Starts the local Outreach and the Worker
 * (`wrangler dev`, state in a temporary folder removed at the end) with `INGEST_MAX_BYTES` raised out of the
 * way, creates a destination through the admin API with a realistic mapping (two segments, firstName and
 * lastName), connects it to the local Outreach, and for each body size posts realistic AEP bodies (JSON arrays
 * of raw XDM profiles, as many as fit in the size) `--requests` times, `--concurrency` at a time as AEP's
 * concurrent requests arrive. Each request is timed as AEP sees it: from sending to the whole answer read.
 * Progress goes to stderr; stdout gets the table and then one JSON object as its last line.
 *
 *   npm run ingest-size -- [--sizes 64K,128K,256K,512K,768K,1M,1.5M,2M,4M] [--requests 20] [--concurrency 4]
 *                          [--profile full|lean] [--warmup 8] [--seed 42] [--port 8807] [--outreach-port 8808]
 *                          [--stack-log FILE]
 *
 * Sizes take K (KiB) and M (MiB) suffixes or plain bytes; each body is the most whole profiles that fit in it.
 * `--profile full` (the default) is what AEP sends with *Include Segment Names* on, as the Set up AEP page asks:
 * about 620 bytes a profile; `lean` has it off and one segment per profile, about 330 bytes: more profiles, so
 * more work, per byte.
 * Every body is distinct (its own prospects, names and qualification times), so none is taken for AEP's retry
 * of another. The queue consumer delivers to the local Outreach meanwhile (Outreach's real limit, 10,000 calls
 * an hour, then the gate defers the rest), as it would in production, on the same thread under `wrangler dev`.
 */
import { parseArgs } from "node:util";
import type { AepProfile, BenchMapping } from "./bench/aep.ts";
import { adminClient, outreachControl } from "./bench/http.ts";
import { BENCH_SEGMENTS, benchMapping } from "./bench/loads.ts";
import { connect, REP } from "./bench/ours.ts";
import { prng } from "./bench/profiles.ts";
import { percentile, round } from "./bench/stats.ts";
import { generateDevVars, scratchStack } from "./stack.ts";

const { values: flags } = parseArgs({
	options: {
		sizes: { type: "string", default: "64K,128K,256K,512K,768K,1M,1.5M,2M,4M" },
		requests: { type: "string", default: "20" },
		concurrency: { type: "string", default: "4" },
		warmup: { type: "string", default: "8" },
		profile: { type: "string", default: "full" },
		seed: { type: "string", default: "42" },
		port: { type: "string", default: "8807" },
		"outreach-port": { type: "string", default: "8808" },
		"stack-log": { type: "string" },
	},
});

function whole(name: "requests" | "concurrency" | "warmup" | "seed" | "port" | "outreach-port", min = 1): number {
	const n = Number(flags[name]);
	if (!Number.isInteger(n) || n < min) {
		console.error(`--${name} must be a whole number ≥ ${min}`);
		process.exit(2);
	}
	return n;
}

/** "64K" → 65,536; "1.5M" → 1,572,864; "1000" → 1,000. */
function parseSize(text: string): number {
	const m = /^\s*(\d+(?:\.\d+)?)\s*([KkMm]?)i?[Bb]?\s*$/.exec(text);
	if (!m) throw new Error(`not a size: ${JSON.stringify(text)} (use e.g. 512K, 1M, 1.5M or bytes)`);
	const unit = { "": 1, k: 1024, m: 1024 * 1024 }[m[2]!.toLowerCase() as "" | "k" | "m"];
	return Math.round(Number(m[1]) * unit);
}

/** 1,048,576 → "1 MiB"; 786,432 → "768 KiB"; 1,572,864 → "1.5 MiB". */
function humanBytes(n: number): string {
	if (n >= 1024 * 1024) return `${round(n / (1024 * 1024), 2)} MiB`;
	if (n >= 1024) return `${round(n / 1024, 1)} KiB`;
	return `${n} B`;
}

let sizes: number[];
try {
	sizes = flags.sizes.split(",").map(parseSize).sort((a, b) => a - b);
} catch (err) {
	console.error((err as Error).message);
	process.exit(2);
}
if (flags.profile !== "full" && flags.profile !== "lean") {
	console.error("--profile must be full or lean");
	process.exit(2);
}
const lean = flags.profile === "lean";
const cfg = {
	sizes,
	profile: flags.profile,
	requests: whole("requests"),
	concurrency: whole("concurrency"),
	warmup: whole("warmup", 0),
	seed: whole("seed", 0),
	workerPort: whole("port"),
	outreachPort: whole("outreach-port"),
};
// Far above the largest body measured, so no size is refused.
const MEASURE_MAX_BYTES = Math.max(16 * 1024 * 1024, 2 * Math.max(...sizes));
const DEADLINE_MS = 2000; // AEP's
const TARGET_P99_MS = 1000; // what the default is chosen against

const started = Date.now();
const log = (line: string) => process.stderr.write(`[ingest-size ${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s] ${line}\n`);

// ─── what AEP sends ───

/** Two segments mapped (as the Set up AEP page has the customer activate them), firstName and lastName. */
const SEGMENTS = BENCH_SEGMENTS.slice(0, 2);
const MAPPING: BenchMapping = { ...benchMapping(true), segments: SEGMENTS.map((s) => ({ ...s })) };
const FIRST_NAMES = ["Ann", "Beatrice", "Cal", "Devika", "Eli", "Fay", "Gustavo", "Hana", "Ivo", "Josephine", "Kai", "Leandra", "Max", "Nia", "Oliver", "Pia"];
const LAST_NAMES = ["Adams", "Brookfield", "Chen", "Diaz", "Evans", "Fitzgerald", "Garcia", "Haas", "Ito", "Jones", "Khan", "Lopez-Moreno", "Moss", "Novak"];
const ACTIVATION = Date.UTC(2026, 10, 1);
const DAY = 86_400_000;

/**
 * A raw XDM profile as AEP's HTTP API destination sends it: the mapped names, its memberships of the mapped
 * segments, and every identity (ECID and the Outreach id). With *Include Segment Names* on (not `lean`), one or
 * both segments, each with the name and the timestamps AEP adds; `lean`, one segment with neither.
 */
function profileGenerator(seed: number) {
	const random = prng(seed);
	const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
	return (): AepProfile => {
		const id = 1 + Math.floor(random() * 10_000); // the local Outreach seeds prospects 1–10000
		const ups: AepProfile["segmentMembership"]["ups"] = {};
		for (const s of SEGMENTS) {
			if (Object.keys(ups).length > 0 && (lean || random() < 0.4)) continue;
			const qualified = ACTIVATION + Math.floor(random() * 30 * DAY);
			Object.assign(ups, {
				[s.segmentId]: {
					status: random() < 0.85 ? "realized" : "exited",
					lastQualificationTime: new Date(qualified).toISOString(),
					...(lean
						? {}
						: { name: s.name, createdAt: ACTIVATION - 40 * DAY, updatedAt: ACTIVATION - 2 * DAY, mappingCreatedAt: ACTIVATION, mappingUpdatedAt: ACTIVATION }),
				},
			});
		}
		return {
			person: { name: { firstName: pick(FIRST_NAMES), lastName: `${pick(LAST_NAMES)}-${Math.floor(random() * 1e6)}` } },
			segmentMembership: { ups },
			identityMap: { ecid: [{ id: String(10n ** 37n + BigInt(Math.floor(random() * 2 ** 52))) }], Oid: [{ id: String(id), primary: true }] },
		};
	};
}

/** The most whole profiles whose JSON array fits in `maxBytes` (ASCII, so characters are bytes). */
function bodyOf(maxBytes: number, next: () => AepProfile): { body: string; profiles: number } {
	const parts: string[] = [];
	let length = 2; // "[" and "]"
	for (;;) {
		const p = JSON.stringify(next());
		const added = p.length + (parts.length ? 1 : 0);
		if (length + added > maxBytes) break;
		parts.push(p);
		length += added;
	}
	return { body: `[${parts.join(",")}]`, profiles: parts.length };
}

// ─── the stack ───

const scratch = await scratchStack({ name: "ingest-size", workerPort: cfg.workerPort, stackLog: flags["stack-log"], log });

// ─── the measurement ───

type Destination = { id: string; ingestToken: string };
type Sample = { ms: number; status: number; accepted: number };

async function post(workerUrl: string, d: Destination, body: string): Promise<Sample> {
	const t0 = performance.now();
	try {
		const res = await fetch(`${workerUrl}/ingest/${d.id}`, {
			method: "POST",
			headers: { Authorization: `Bearer ${d.ingestToken}`, "Content-Type": "application/json" },
			body,
			signal: AbortSignal.timeout(60_000),
		});
		const text = await res.text();
		const ms = performance.now() - t0;
		const accepted = res.status === 202 ? (JSON.parse(text) as { accepted: number }).accepted : 0;
		if (res.status !== 202) log(`  answer ${res.status}: ${text.slice(0, 300)}`);
		return { ms, status: res.status, accepted };
	} catch (err) {
		log(`  no answer: ${(err as Error).message}`);
		return { ms: performance.now() - t0, status: 0, accepted: 0 };
	}
}

/** Posts the bodies `concurrency` at a time (each worker sends its next body once its last was answered). */
async function run(workerUrl: string, d: Destination, bodies: string[], concurrency: number): Promise<Sample[]> {
	const samples: Sample[] = [];
	let next = 0;
	const worker = async () => {
		while (next < bodies.length) samples.push(await post(workerUrl, d, bodies[next++]!));
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, worker));
	return samples;
}

type Row = { bytes: number; size: string; profiles: number; requests: number; p50Ms: number; p99Ms: number; maxMs: number; over1s: number; over2s: number; errors: number };

const cell = (v: string | number) => (typeof v === "number" ? v.toLocaleString("en-US") : v);
function renderTable(rows: Row[]): string {
	const head = ["body", "bytes", "profiles", "requests", "p50 ms", "p99 ms", "max ms", "> 1 s", "> 2 s", "errors"];
	const lines = rows.map((r) => [r.size, r.bytes, r.profiles, r.requests, r.p50Ms, r.p99Ms, r.maxMs, r.over1s, r.over2s, r.errors].map(cell));
	const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
	const fmt = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
	return [fmt(head), `|${widths.map((w, i) => (i === 0 ? `${"-".repeat(w + 1)}-` : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...lines.map(fmt)].join("\n");
}

const config = { ...cfg, sizes: cfg.sizes.map(humanBytes), ingestMaxBytesWhileMeasuring: MEASURE_MAX_BYTES, targetP99Ms: TARGET_P99_MS, mapping: { segments: SEGMENTS.length, attributes: MAPPING.attributes.length } };
let exitCode = 0;
try {
	const outreachUrl = `http://127.0.0.1:${cfg.outreachPort}`;
	const vars: Record<string, string> = { ...generateDevVars(outreachUrl), INGEST_MAX_BYTES: String(MEASURE_MAX_BYTES) };
	log(`starting the local Outreach (:${cfg.outreachPort}) and the Worker (wrangler dev :${cfg.workerPort}, state in ${scratch.stateDir}), INGEST_MAX_BYTES ${MEASURE_MAX_BYTES}`);
	const stack = await scratch.start({
		outreachPort: cfg.outreachPort, vars });
	const admin = adminClient(stack.workerUrl, vars.ADMIN_TOKEN!);
	const destination = await admin<Destination>("POST", "/api/destinations", { name: "Ingest size", description: "npm run ingest-size" }, 201);
	await admin("PUT", `/api/destinations/${destination.id}/mapping`, MAPPING);
	await connect(admin, destination.id, REP);
	log(`destination ${destination.id}: two segments and firstName/lastName mapped, connected as ${REP.email}`);

	// The queue consumer delivers meanwhile, on the same thread: what Outreach has received shows how much.
	const outreach = outreachControl(stack.outreachUrl);
	const patches = async () => Object.values((await outreach.stats()).requests["PATCH /api/v2/prospects/:id"] ?? {}).reduce((a, b) => a + b, 0);
	const next = profileGenerator(cfg.seed);
	if (cfg.warmup > 0) {
		// The first requests compile the Worker's and the Durable Object's code paths: not measured.
		const bodies = Array.from({ length: cfg.warmup }, () => bodyOf(sizes[0]!, next).body);
		const w = await run(stack.workerUrl, destination, bodies, cfg.concurrency);
		log(`warm-up: ${w.length} requests of ${humanBytes(sizes[0]!)} (not measured), ${w.map((s) => Math.round(s.ms)).join(" ")} ms`);
	}

	const rows: Row[] = [];
	for (const size of sizes) {
		const made = Array.from({ length: cfg.requests }, () => bodyOf(size, next));
		const profiles = Math.min(...made.map((m) => m.profiles));
		const bytes = Math.max(...made.map((m) => m.body.length));
		log(`${humanBytes(size)}: ${cfg.requests} bodies of ${profiles}–${Math.max(...made.map((m) => m.profiles))} profiles (≤ ${bytes} bytes), ${cfg.concurrency} at a time`);
		const began = Date.now();
		const samples = await run(stack.workerUrl, destination, made.map((m) => m.body), cfg.concurrency);
		const ok = samples.filter((s) => s.status === 202);
		const times = samples.map((s) => s.ms);
		const row: Row = {
			bytes: size,
			size: humanBytes(size),
			profiles,
			requests: samples.length,
			p50Ms: Math.round(percentile(times, 50)),
			p99Ms: Math.round(percentile(times, 99)),
			maxMs: Math.round(Math.max(...times)),
			over1s: times.filter((t) => t > 1000).length,
			over2s: times.filter((t) => t > DEADLINE_MS).length,
			errors: samples.length - ok.length,
		};
		rows.push(row);
		const accepted = ok.reduce((n, s) => n + s.accepted, 0);
		log(
			`${row.size}: p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, max ${row.maxMs} ms, ${row.errors} errors, ${accepted} profiles accepted, ` +
				`${Math.round((Date.now() - began) / 1000)} s; PATCHes so far ${await patches()}`,
		);
		if (row.errors === samples.length) throw new Error(`every request of ${row.size} failed`);
	}
	const activity = await admin<{ totals: Record<string, number> }>("GET", `/api/destinations/${destination.id}/activity`);
	log(`destination totals at the end (delivered counts lag: a queue batch settles when it ends): ${JSON.stringify(activity.totals)}`);
	await scratch.stop();

	// The largest size measured whose p99 is under the target and with no error (every smaller one too).
	let fits: Row | undefined;
	for (const r of rows) {
		if (r.p99Ms >= TARGET_P99_MS || r.errors > 0) break;
		fits = r;
	}
	console.log(renderTable(rows));
	console.log(
		fits
			? `Largest body with p99 under ${TARGET_P99_MS} ms: ${fits.size} (${fits.bytes} bytes, ${fits.profiles} profiles; p99 ${fits.p99Ms} ms). AEP sends at most 10 profiles a request.`
			: `No size measured has p99 under ${TARGET_P99_MS} ms.`,
	);
	console.log(JSON.stringify({ config, rows, largestUnderTarget: fits ? { bytes: fits.bytes, size: fits.size, p99Ms: fits.p99Ms } : null }));
} catch (err) {
	const message = err instanceof Error ? err.message : String(err);
	log(`failed: ${message}`);
	if (scratch.output()) log(`last output of the stack:\n${scratch.output().slice(-3000)}`);
	console.log(JSON.stringify({ config, error: message }));
	exitCode = 1;
} finally {
	await scratch.stop();
	log(`done in ${Math.round((Date.now() - started) / 1000)} s`);
}
process.exit(exitCode);
