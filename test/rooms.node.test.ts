import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../scripts/stack.ts";

/**
 * `src/` is a house of rooms, one folder per stage or plane, and `ls src` reads as the architecture. Each room's
 * README.md says, on its `Imports:` line, which other rooms it may import; this test reads those lines and the
 * import graph (with the TypeScript compiler's own pre-processor, type imports and re-exports included) and
 * fails on any import a room's README does not allow, and on any import circle.
 */

const SRC = join(projectRoot, "src");
/** The only files at the root of `src/`: the entry, the app that mounts the routes, and the storage layout. */
const ROOT_FILES = ["STORAGE.md", "app.ts", "index.ts"];

function sourceFiles(dir: string): string[] {
	return readdirSync(dir).flatMap((name) => {
		const path = join(dir, name);
		if (statSync(path).isDirectory()) return sourceFiles(path);
		return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
	});
}

/** The file a relative specifier names, as TypeScript's bundler resolution finds it; null for packages. */
function resolveSpecifier(from: string, specifier: string): string | null {
	if (!specifier.startsWith(".")) return null;
	const base = resolve(dirname(from), specifier.split("?")[0]!);
	const candidates = [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts"), join(base, "index.tsx")];
	return candidates.find((c) => existsSync(c) && statSync(c).isFile() && /\.tsx?$/.test(c)) ?? null;
}

/** Every module under `root` and the modules it imports (values and types, re-exports included). */
export function importGraph(root: string): Map<string, string[]> {
	const graph = new Map<string, string[]>();
	for (const file of sourceFiles(root)) {
		const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
		const targets = info.importedFiles.map((f) => resolveSpecifier(file, f.fileName)).filter((t): t is string => t !== null);
		graph.set(file, [...new Set(targets)]);
	}
	return graph;
}

/** Each circle once, as the path of files that closes it (the first file repeated at the end). */
export function circles(graph: Map<string, string[]>): string[][] {
	const found: string[][] = [];
	const state = new Map<string, "open" | "done">();
	const stack: string[] = [];
	const visit = (node: string) => {
		state.set(node, "open");
		stack.push(node);
		for (const next of graph.get(node) ?? []) {
			if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
			else if (!state.has(next)) visit(next);
		}
		stack.pop();
		state.set(node, "done");
	};
	for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
	return found;
}

/** The room a file lives in (its first folder under src/), or null for the root files. */
function roomOf(file: string): string | null {
	const parts = relative(SRC, file).split("/");
	return parts.length > 1 ? parts[0]! : null;
}

/** Each room's allowed imports, from the `Imports:` line of its README (words that are not rooms are prose). */
export function roomRules(src: string): Map<string, Set<string>> {
	const rooms = readdirSync(src).filter((n) => statSync(join(src, n)).isDirectory());
	const rules = new Map<string, Set<string>>();
	for (const room of rooms) {
		const readme = join(src, room, "README.md");
		if (!existsSync(readme)) throw new Error(`src/${room}/ has no README.md saying what it owns and what it may import`);
		const line = /^Imports:(.*)$/m.exec(readFileSync(readme, "utf8"));
		if (!line) throw new Error(`src/${room}/README.md has no "Imports:" line`);
		const named = line[1]!.replace(/\([^)]*\)/g, "").split(/[,\s]+/).filter(Boolean);
		const unknown = named.filter((n) => !rooms.includes(n));
		if (unknown.length) throw new Error(`src/${room}/README.md's Imports line names ${unknown.join(", ")}, which are not rooms`);
		rules.set(room, new Set(named));
	}
	return rules;
}

/** Every import that crosses rooms against the rules, as "from → to (room → room)". */
export function forbiddenImports(graph: Map<string, string[]>, rules: Map<string, Set<string>>, src = SRC): string[] {
	const name = (f: string) => relative(src, f);
	const found: string[] = [];
	for (const [from, targets] of graph) {
		const fromRoom = roomOf(from);
		for (const to of targets) {
			const toRoom = roomOf(to);
			if (toRoom === null) {
				// app.ts is mounted by the entry only; nothing imports the entry.
				if (!(name(from) === "index.ts" && name(to) === "app.ts")) found.push(`${name(from)} → ${name(to)} (only index.ts imports app.ts)`);
				continue;
			}
			if (fromRoom === null || fromRoom === toRoom) continue;
			if (!rules.get(fromRoom)?.has(toRoom)) found.push(`${name(from)} → ${name(to)} (${fromRoom} may not import ${toRoom})`);
		}
	}
	return found.sort();
}

describe("the rooms of src/", () => {
	it("hold every module: at the root only the entry, the app and the storage layout", () => {
		const loose = readdirSync(SRC).filter((n) => !statSync(join(SRC, n)).isDirectory() && !ROOT_FILES.includes(n));
		expect(loose, "move each into the room named for its stage or plane").toEqual([]);
	});

	it("each say what they own and what they may import", () => {
		const rules = roomRules(SRC);
		expect([...rules.keys()].sort()).toEqual(
			expect.arrayContaining(["api", "auth", "console", "delivery", "destinations", "gate", "ingest", "ledger", "oauth", "outreach", "platform", "updates"]),
		);
		expect(rules.get("platform")!.size, "platform imports nothing of the product").toBe(0);
	});

	it("import only what their README allows", () => {
		expect(forbiddenImports(importGraph(SRC), roomRules(SRC)), "imports their rooms' README.md do not allow").toEqual([]);
	});

	it("keep the named rules: ingest never calls Outreach, the gate knows no routes, the data plane no control plane", () => {
		const rules = roomRules(SRC);
		const control = ["api", "console", "oauth", "auth", "alerts", "http"];
		expect(rules.get("ingest")).not.toContain("outreach");
		expect(rules.get("ingest")).not.toContain("gate");
		for (const dataRoom of ["ingest", "delivery", "gate", "ledger", "updates", "destinations", "outreach", "platform"])
			for (const c of control.filter((r) => !(dataRoom === "ingest" && r === "http"))) expect(rules.get(dataRoom), `${dataRoom} may not import ${c}`).not.toContain(c);
	});

	it("would refuse a forbidden import: the gate importing a route, ingest importing the Outreach client", () => {
		const graph = importGraph(SRC);
		const gate = join(SRC, "gate/gate.ts");
		const ingest = join(SRC, "ingest/route.ts");
		graph.set(gate, [...graph.get(gate)!, join(SRC, "api/index.ts")]);
		graph.set(ingest, [...graph.get(ingest)!, join(SRC, "outreach/api.ts")]);
		graph.set(join(SRC, "ledger/ledger.ts"), [...graph.get(join(SRC, "ledger/ledger.ts"))!, join(SRC, "app.ts")]);
		expect(forbiddenImports(graph, roomRules(SRC))).toEqual([
			"gate/gate.ts → api/index.ts (gate may not import api)",
			"ingest/route.ts → outreach/api.ts (ingest may not import outreach)",
			"ledger/ledger.ts → app.ts (only index.ts imports app.ts)",
		]);
	});
});

describe("the import graph of src/", () => {
	it("reads the imports it needs to judge (value, type and re-export)", () => {
		const graph = importGraph(SRC);
		const name = (f: string) => relative(SRC, f);
		const edges = (f: string) => (graph.get(join(SRC, f)) ?? []).map(name);
		expect(graph.size).toBeGreaterThan(20);
		expect(edges("index.ts")).toContain("app.ts");
		expect(edges("gate/gate.ts"), "a type-only import is an edge too").toContain("outreach/oauth.ts");
	});

	it("finds a circle when there is one", () => {
		const a = "/x/a.ts";
		const b = "/x/b.ts";
		const c = "/x/c.ts";
		expect(circles(new Map([[a, [b]], [b, [c]], [c, [a]]]))).toEqual([[a, b, c, a]]);
		expect(circles(new Map([[a, [b]], [b, [c]], [c, []]]))).toEqual([]);
	});

	it("has no import circles, type imports included", () => {
		const found = circles(importGraph(SRC)).map((path) => path.map((f) => relative(SRC, f)).join(" → "));
		expect(found, "import circles in src/ (move the shared piece to where both sides can import it)").toEqual([]);
	});
});
