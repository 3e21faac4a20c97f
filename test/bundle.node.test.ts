import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../scripts/stack.ts";

/**
 * What `wrangler deploy` would upload — built with `--dry-run` — contains none of the local Outreach: no
 * `__fake` control route, no `local-outreach` module. (The design: the stand-in is never bundled.)
 */

const root = projectRoot;
let outdir: string;
let files: { path: string; text: string }[];

async function walk(dir: string): Promise<string[]> {
	const out: string[] = [];
	for (const entry of await readdir(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) out.push(...(await walk(path)));
		else out.push(path);
	}
	return out;
}

beforeAll(async () => {
	outdir = await mkdtemp(join(tmpdir(), "aep-outreach-bundle-"));
	// Wrangler needs Node 22: run it with the Node running this test (npm puts node@22 first on PATH).
	await promisify(execFile)(process.execPath, [join(root, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", outdir], {
		cwd: root,
		env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_ENV: "" },
		maxBuffer: 16 * 1024 * 1024,
		timeout: 110_000,
	});
	files = await Promise.all((await walk(outdir)).map(async (path) => ({ path, text: await readFile(path, "utf8") })));
}, 120_000);

afterAll(async () => {
	if (outdir) await rm(outdir, { recursive: true, force: true });
});

describe("the deployable bundle", () => {
	it("is built (the check below is not vacuous)", async () => {
		const main = files.find((f) => /index\.js$/.test(f.path));
		expect(main, `files: ${files.map((f) => f.path).join(", ")}`).toBeDefined();
		expect((await stat(main!.path)).size).toBeGreaterThan(50_000);
		// It is this Worker: its routes are in it.
		expect(main!.text).toContain("/ingest");
	});

	it("contains no __fake code and nothing of local-outreach", () => {
		for (const f of files) {
			expect(f.text.includes("__fake"), `${f.path} mentions __fake`).toBe(false);
			expect(f.text.includes("local-outreach"), `${f.path} mentions local-outreach`).toBe(false);
		}
	});
});
