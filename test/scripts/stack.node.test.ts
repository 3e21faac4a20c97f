import { lstat, mkdtemp, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { projectRoot, workerSnapshot } from "../../scripts/stack.ts";

/**
 * A measuring run builds its Worker from a copy of the sources (scripts/stack.ts, workerSnapshot): `wrangler dev`
 * reloads on any change to what it builds from, and a reload drops the local queue's messages, so an edit or a
 * checkout during a benchmark used to lose updates (1,500 in the first million-profile run).
 */

let dir: string | undefined;
afterEach(async () => {
	if (dir) await rm(dir, { recursive: true, force: true });
	dir = undefined;
});

describe("a measuring run's copy of the Worker's sources", () => {
	it("holds its own copy of src and the configuration, so a change to the project's files never reaches it", async () => {
		dir = await mkdtemp(join(tmpdir(), "aep-snapshot-"));
		const copy = await workerSnapshot(join(dir, "worker"));
		for (const path of ["src", "src/index.ts", "wrangler.toml", "tsconfig.json", "package.json"]) {
			expect((await lstat(join(copy, path))).isSymbolicLink(), `${path} is a copy, not a link`).toBe(false);
		}
		expect(await readFile(join(copy, "wrangler.toml"), "utf8")).toBe(await readFile(join(projectRoot, "wrangler.toml"), "utf8"));
		// Changing the copy leaves the project alone, and the other way round.
		await writeFile(join(copy, "src/index.ts"), "// changed in the copy\n");
		expect(await readFile(join(projectRoot, "src/index.ts"), "utf8")).not.toBe("// changed in the copy\n");
		// Dependencies are the project's own, linked rather than copied.
		expect(await readlink(join(copy, "node_modules"))).toBe(join(projectRoot, "node_modules"));
	});
});
