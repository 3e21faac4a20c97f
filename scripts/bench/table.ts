/**
 * The benchmark's table, made from its JSON line alone (so `npm run bench -- --report FILE` redraws it from a
 * saved run, and the README's table can be regenerated from the output it quotes).
 */
import type { Figures } from "./figures.ts";

export type BenchResult = {
	scenario: string;
	config: Record<string, unknown>;
	backlogWindows: number;
	lowerBound: { calls: number; windows: number; drainSeconds: number };
	ours: Figures | null;
	aepNative?: Figures | null;
	isolateLimiter?: Figures | null;
	error?: string;
};

const STRATEGIES = ["ours", "aepNative", "isolateLimiter"] as const;

type Row = [label: string, value: (f: Figures) => unknown, lowerBound?: (r: BenchResult) => unknown];

const mb = (bytes: number | undefined) => (bytes === undefined ? undefined : Math.round(bytes / 104_857.6) / 10);
const both = (a: unknown, b: unknown) => (a === null || a === undefined ? "—" : `${fmt(a)} / ${fmt(b)}`);

const ROWS: Row[] = [
	["profiles", (f) => f.profiles],
	["updates", (f) => f.updates],
	["distinctProspects", (f) => f.distinctProspects],
	["patchCalls", (f) => f.patchCalls, (r) => r.lowerBound.calls],
	["bulkCalls", (f) => f.bulkCalls],
	["pollCalls", (f) => f.pollCalls],
	["status429", (f) => f.status429],
	["drainSeconds", (f) => f.drainSeconds, (r) => r.lowerBound.drainSeconds],
	["drainRatio", (f) => f.drainRatio, () => 1],
	["windowUse mean / min", (f) => both(f.windowUse.mean, f.windowUse.min)],
	["lost", (f) => f.lost],
	["failed", (f) => f.failed],
	["staleWrites", (f) => f.staleWrites],
	["unknownWrites", (f) => f.unknownWrites],
	["ingestP50Ms / ingestP99Ms", (f) => both(f.ingestP50Ms, f.ingestP99Ms)],
	["ingestOver2s", (f) => f.ingestOver2s],
	["e2eP50Ms / e2eP99Ms", (f) => both(f.e2eP50Ms, f.e2eP99Ms)],
	["gateCallsPerPatch", (f) => f.gateCallsPerPatch],
	["ledgerCallsPerUpdate", (f) => f.ledgerCallsPerUpdate],
	["queueMessagesPerUpdate", (f) => f.queueMessagesPerUpdate],
];

function fmt(v: unknown): string {
	if (v === null || v === undefined) return "—";
	if (typeof v === "number") return Number.isInteger(v) && Math.abs(v) >= 1000 ? v.toLocaleString("en-US") : String(v);
	return String(v);
}

/** A Markdown table: one column per strategy that ran, and the computed lower bound. */
export function renderTable(r: BenchResult): string {
	const columns = STRATEGIES.filter((s) => r[s]);
	const rows = [...ROWS];
	if (columns.some((s) => r[s]?.unfilteredRequests !== undefined)) rows.push(["unfilteredRequests", (f) => f.unfilteredRequests]);
	if (columns.some((s) => r[s]?.membershipUpdates !== undefined))
		rows.push(["membershipUpdates", (f) => f.membershipUpdates], ["callsPerMembershipUpdate", (f) => f.callsPerMembershipUpdate]);
	if (columns.some((s) => r[s]?.importCalls !== undefined))
		rows.push(["importCalls", (f) => f.importCalls], ["createdProspects", (f) => f.createdProspects], ["callsPerProspect", (f) => f.callsPerProspect]);
	if (columns.some((s) => r[s]?.timedOut)) rows.push(["timedOut", (f) => (f.timedOut ? "yes" : "no")]);
	if (columns.some((s) => r[s]?.ledger))
		rows.push(
			["ingestProfilesPerSecond", (f) => f.ledger?.ingestProfilesPerSecond],
			["activityMs median / max", (f) => both(f.ledger?.activityMs?.medianMs, f.ledger?.activityMs?.maxMs)],
			["failuresMs median / max", (f) => both(f.ledger?.failuresMs?.medianMs, f.ledger?.failuresMs?.maxMs)],
			["ledger updates rows", (f) => f.ledger?.ledger?.rows?.updates],
			["ledger / gate MB", (f) => (f.ledger ? both(mb(f.ledger.ledger?.bytes), mb(f.ledger.gate?.bytes)) : undefined)],
		);
	const header = ["", ...columns, "lowerBound"];
	const body = rows.map(([label, value, bound]) => [label, ...columns.map((s) => fmt(value(r[s]!))), bound ? fmt(bound(r)) : ""]);
	const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
	const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
	// `stream --bulk` keeps the stream's name; its config says ours ran with bulk on.
	const name = r.scenario === "stream" && r.config.bulkApi === true ? "stream --bulk" : r.scenario;
	const title = `${name}: ${fmt(r.config.limit)} calls per ${fmt(r.config.windowSeconds)} s window, backlogWindows ${r.backlogWindows} (lowerBound: ${r.lowerBound.calls} calls, ${r.lowerBound.windows} windows, ${r.lowerBound.drainSeconds} s)`;
	return [title, "", line(header), `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...body.map(line)].join("\n");
}

/** The benchmark's JSON line in a saved output: the last line that is a JSON object with a `scenario`. */
export function resultIn(text: string): BenchResult | null {
	for (const line of text.split(/\r?\n/).reverse()) {
		if (!line.trim().startsWith("{")) continue;
		try {
			const parsed = JSON.parse(line) as BenchResult;
			if (parsed && typeof parsed === "object" && "scenario" in parsed) return parsed;
		} catch {
			/* not the JSON line */
		}
	}
	return null;
}
