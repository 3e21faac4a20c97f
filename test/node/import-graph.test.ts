import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../scripts/stack.ts";

/**
 * `src/` has no import circles, type imports included: each module depends on what comes before it in the
 * pipeline, never back. The graph is read with the TypeScript compiler's own pre-processor.
 */

const SRC = join(projectRoot, "src");

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
	const base = resolve(dirname(from), specifier);
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
