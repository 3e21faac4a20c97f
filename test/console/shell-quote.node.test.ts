import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { shellQuote } from "../../src/console/shell.ts";

/**
 * `shellQuote` makes any text one word for a POSIX shell — the console's copy-and-paste commands rely on it.
 * Checked with a real `sh`: each quoted value comes back as exactly one argument, byte for byte, and nothing
 * in it runs.
 */

const dir = mkdtempSync(join(tmpdir(), "shell-quote-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The arguments `sh` passes to a command when it runs `args <words>`, NUL-separated. */
function argumentsOf(words: string): string[] {
	const out = execFileSync("sh", ["-c", `args() { for a in "$@"; do printf '%s\\0' "$a"; done; }; args ${words}`], { encoding: "utf8" });
	return out.split("\0").slice(0, -1);
}

describe("shellQuote", () => {
	it("keeps a segment id that tries to break out of the quotes as one argument, and runs nothing", () => {
		const marker = join(dir, "pwned");
		const id = `x'; touch ${marker}; echo '`;
		const body = JSON.stringify({ segmentMembership: { ups: { [id]: { status: "realized" } } } });
		const command = `-d ${shellQuote(body)}`;
		execFileSync("sh", ["-n", "-c", `curl ${command}`]); // parses
		expect(argumentsOf(command)).toEqual(["-d", body]);
		expect(existsSync(marker)).toBe(false);
	});

	it("quotes quotes, backslashes, $(…), backticks, newlines and globs as literal text", () => {
		const values = ["it's", "'", "''", "\\", "$(touch x)", "`id`", "$HOME", "a\nb", "*", "~", "-n", "", " ", "\t", "a'\"b", "'\\''"];
		expect(argumentsOf(values.map(shellQuote).join(" "))).toEqual(values);
	});

	it("round-trips any text without NUL as exactly one argument", () => {
		const text = fc.string({ unit: "binary", maxLength: 40 }).filter((s) => !s.includes("\0"));
		fc.assert(
			fc.property(fc.array(text, { minLength: 1, maxLength: 20 }), (values) => {
				// The shell reads bytes: compare the UTF-8 each value becomes (lone surrogates turn into U+FFFD).
				const expected = values.map((v) => Buffer.from(v, "utf8").toString("utf8"));
				expect(argumentsOf(values.map(shellQuote).join(" "))).toEqual(expected);
			}),
			{ numRuns: 50 },
		);
	});
});
