/**
 * `npm run aep-batch`: the measurement behind the package's configurable aggregation (scripts/aep/package.ts
 * BATCH; README "Connect from AEP"). Renders full batches — `--profiles` (default maxNumEventsInBatch) profiles
 * in AEP's sample-profile format, `--attributes` (0–5, default 5) attributes each — with the shipped template, reports the body's bytes
 * per profile, then posts `--tries` distinct batches (default 20, one at a time, as AEP sends one request per
 * group) to a scratch stack (`wrangler dev` and the local Outreach, state removed at the end) with INGEST_MAX_BYTES
 * set to `--max-bytes`, timing each as AEP sees it. With `--bulk` the destination has Outreach's bulk paths on: a
 * batch with attributes goes out as imports (one record per prospect), a segment-only one by the bulk API.
 * Progress on stderr; stdout gets a summary and one JSON object as its last line.
 *
 *   npm run aep-batch -- [--profiles 1000] [--tries 20] [--max-bytes 1048576] [--attributes 5] [--bulk] [--window-seconds 3600] [--port 8817] [--outreach-port 8818]
 */
import { parseArgs } from "node:util";
import { adminClient, outreachControl } from "./bench/http.ts";
import { connect, REP } from "./bench/ours.ts";
import { percentile } from "./bench/stats.ts";
import { BATCH, template } from "./aep/package.ts";
import { aggregatedContext, renderPebble, type SampleProfile } from "./aep/render.ts";
import { generateDevVars, scratchStack } from "./stack.ts";

const { values: flags } = parseArgs({
	options: {
		profiles: { type: "string", default: String(BATCH.maxNumEventsInBatch) },
		tries: { type: "string", default: "20" },
		warmup: { type: "string", default: "3" },
		"max-bytes": { type: "string", default: String(1024 * 1024) },
		bulk: { type: "boolean", default: false },
		attributes: { type: "string", default: "5" },
		"window-seconds": { type: "string", default: "3600" },
		port: { type: "string", default: "8817" },
		"outreach-port": { type: "string", default: "8818" },
	},
});
const n = (name: "window-seconds" | "attributes" | "profiles" | "tries" | "warmup" | "max-bytes" | "port" | "outreach-port") => {
	const v = Number(flags[name]);
	if (!Number.isInteger(v) || v < 0) {
		console.error(`--${name} must be a whole number`);
		process.exit(2);
	}
	return v;
};
const cfg = { windowSeconds: n("window-seconds"), attributes: Math.min(5, n("attributes")), profiles: n("profiles"), tries: n("tries"), warmup: n("warmup"), maxBytes: n("max-bytes"), bulk: flags.bulk, port: n("port"), outreachPort: n("outreach-port") };
const started = Date.now();
const log = (line: string) => process.stderr.write(`[aep-batch ${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s] ${line}\n`);

const FIRST = ["Ann", "Beatrice", "Cal", "Devika", "Eli", "Fay", "Gustavo", "Hana", "Ivo", "Josephine"];
const LAST = ["Adams", "Brookfield", "Chen", "Diaz", "Evans", "Fitzgerald", "Garcia", "Lopez-Moreno"];
const TITLES = ["VP Marketing", "Head of Revenue Operations", "Account Executive", "Director, Demand Generation"];
const COMPANIES = ["Acme Corporation", "Globex Industries", "Initech Software", "Umbrella Holdings"];
const CITIES = ["São Paulo", "Lisbon", "New York", "Zürich"];

/** One full batch for try `t`: its own prospects and audience, so no batch is taken for AEP's retry of another. */
function batch(t: number): { body: string; segmentId: string } {
	const segmentId = `6b1a${String(t).padStart(4, "0")}-0000-4000-8000-000000000000`;
	const profiles: SampleProfile[] = Array.from({ length: cfg.profiles }, (_, i) => ({
		segmentMembership: { ups: { [segmentId]: { status: "realized", lastQualificationTime: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString() } } },
		identityMap: { OutreachId: [{ id: String(1 + ((t * cfg.profiles + i) % 10_000)) }] },
		attributes: Object.fromEntries(
			Object.entries({
				firstName: { value: FIRST[i % FIRST.length] },
				lastName: { value: `${LAST[i % LAST.length]}-${t}-${i}` },
				title: { value: TITLES[i % TITLES.length] },
				company: { value: COMPANIES[i % COMPANIES.length] },
				addressCity: { value: CITIES[i % CITIES.length] },
			}).slice(0, cfg.attributes),
		),
	}));
	const alias = String(1 + (t % 150));
	return { body: renderPebble(template("configurable"), aggregatedContext(profiles, { segmentId, status: "realized", alias })), segmentId };
}

const scratch = await scratchStack({ name: "aep-batch", workerPort: cfg.port, log });
let exitCode = 0;
try {
	const bodies = Array.from({ length: cfg.warmup + cfg.tries }, (_, t) => batch(t).body);
	const bytes = Math.max(...bodies.map((b) => Buffer.byteLength(b)));
	log(`${bodies.length} batches of ${cfg.profiles} profiles rendered: up to ${bytes} bytes (${Math.round(bytes / cfg.profiles)} bytes a profile)`);
	const outreachUrl = `http://127.0.0.1:${cfg.outreachPort}`;
	const vars: Record<string, string> = { ...generateDevVars(outreachUrl), INGEST_MAX_BYTES: String(cfg.maxBytes), OUTREACH_RATE_WINDOW_SECONDS: String(cfg.windowSeconds) };
	const stack = await scratch.start({ outreachPort: cfg.outreachPort, vars });
	const admin = adminClient(stack.workerUrl, vars.ADMIN_TOKEN!);
	const d = await admin<{ id: string; ingestToken: string }>("POST", "/api/destinations", { name: "AEP batch", description: "npm run aep-batch" }, 201);
	if (cfg.bulk) await admin("PATCH", `/api/destinations/${d.id}`, { bulkApi: true });
	await connect(admin, d.id, REP);
	const post = async (body: string) => {
		const t0 = performance.now();
		const res = await fetch(`${stack.workerUrl}/ingest/${d.id}`, { method: "POST", headers: { Authorization: `Bearer ${d.ingestToken}`, "Content-Type": "application/json" }, body });
		const text = await res.text();
		const ms = performance.now() - t0;
		if (res.status !== 202) log(`answer ${res.status}: ${text.slice(0, 300)}`);
		return { ms, status: res.status, accepted: res.status === 202 ? (JSON.parse(text) as { accepted: number }).accepted : 0 };
	};
	for (const body of bodies.slice(0, cfg.warmup)) log(`warm-up: ${Math.round((await post(body)).ms)} ms (not measured)`);
	const samples = [];
	for (const body of bodies.slice(cfg.warmup)) {
		const s = await post(body);
		samples.push(s);
		log(`try ${samples.length}: ${s.status} in ${Math.round(s.ms)} ms, ${s.accepted} accepted`);
	}
	const times = samples.map((s) => s.ms);
	const result = {
		profiles: cfg.profiles,
		bytes,
		bytesPerProfile: Math.round(bytes / cfg.profiles),
		ingestMaxBytes: cfg.maxBytes,
		tries: samples.length,
		all202: samples.every((s) => s.status === 202),
		p50Ms: Math.round(percentile(times, 50)),
		p99Ms: Math.round(percentile(times, 99)),
		maxMs: Math.round(Math.max(...times)),
		bulk: cfg.bulk,
	};
	if (cfg.bulk) {
		// Wait for delivery to say how the batches went out: every profile as a bulk item or an import record.
		const outreach = outreachControl(stack.outreachUrl);
		const until = Date.now() + Math.max(60_000, (cfg.windowSeconds / 60) * 1000 + 60_000);
		let stats = await outreach.stats();
		while (Date.now() < until && !((stats.bulk?.items ?? 0) + (stats.imports?.records ?? 0) >= cfg.tries * cfg.profiles)) {
			await new Promise((r) => setTimeout(r, 5_000));
			stats = await outreach.stats();
		}
		Object.assign(result, {
			outreachRequests: Object.fromEntries(Object.entries(stats.requests).map(([k, v]) => [k, Object.values(v).reduce((a, b) => a + b, 0)])),
			outreachBulk: stats.bulk ?? null,
			outreachImports: stats.imports ?? null,
		});
	}
	console.log(`${result.tries} batches of ${result.profiles} profiles (${result.bytes} bytes, ${result.bytesPerProfile} B/profile): p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms, all 202: ${result.all202}`);
	console.log(JSON.stringify(result));
} catch (err) {
	log(`failed: ${(err as Error).message}`);
	if (scratch.output()) log(scratch.output().slice(-3000));
	exitCode = 1;
} finally {
	await scratch.stop();
}
process.exit(exitCode);
