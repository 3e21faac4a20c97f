import { describe, expect, it } from "vitest";
import { page, signInConsole, submit } from "./helpers";
import { createDestination } from "../helpers/control";
import { putMapping } from "../helpers/data";

/**
 * The "Try it" command on the Set up AEP page is meant to be pasted into a shell, and it carries user data
 * (segment id, identity namespace). Every value in it is shell-quoted, so pasting it runs `curl` with the
 * URL, the headers and the body as single arguments — and nothing else. test/console/shell-quote.node.test.ts runs
 * the quoting through a real `sh`.
 */

const HOSTILE_SEGMENT = `x'; touch /tmp/pwned; echo '`;
const HOSTILE_NAMESPACE = `O'id $(id) \`id\``;

function unescapeHtml(s: string): string {
	return s.replace(/&quot;/g, '"').replace(/&#39;|&#x27;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** The command in the page's "Try it" block, as a person would copy it. */
function tryItCommand(html: string): string {
	const m = /<h2>3 · Try it<\/h2>[\s\S]*?<pre class="code">([\s\S]*?)<\/pre>/.exec(html);
	expect(m, "the page has a Try it command").toBeTruthy();
	return unescapeHtml(m![1]!);
}

/**
 * Splits a command into the words a POSIX shell would pass to the program: single quotes, backslash escapes
 * and line continuations. Anything that would make the shell do more than run one command — an unquoted
 * `;`, `&`, `|`, redirection, substitution or double quotes — throws.
 */
function shellWords(command: string): string[] {
	const words: string[] = [];
	let word: string | null = null;
	for (let i = 0; i < command.length; ) {
		const ch = command[i]!;
		if (ch === "\\" && command[i + 1] === "\n") i += 2;
		else if (ch === "\\") {
			word = (word ?? "") + (command[i + 1] ?? "");
			i += 2;
		} else if (/\s/.test(ch)) {
			if (word !== null) words.push(word);
			word = null;
			i++;
		} else if (ch === "'") {
			const end = command.indexOf("'", i + 1);
			if (end < 0) throw new Error(`unterminated quote at ${i}`);
			word = (word ?? "") + command.slice(i + 1, end);
			i = end + 1;
		} else if (";&|<>()$`\"*?[#~".includes(ch)) throw new Error(`unquoted '${ch}' at ${i}: ${command.slice(Math.max(0, i - 20), i + 20)}`);
		else {
			word = (word ?? "") + ch;
			i++;
		}
	}
	if (word !== null) words.push(word);
	return words;
}

describe("the Set up AEP page's Try it command", () => {
	it("keeps a segment id and namespace with quotes and substitutions inside one quoted body", async () => {
		const d = await createDestination({ name: "Shell" });
		await putMapping(d.id, { identityNamespace: HOSTILE_NAMESPACE, segments: [{ segmentId: HOSTILE_SEGMENT, mappingId: 4 }] });
		const browser = await signInConsole();
		const { html } = await page(`/destinations/${d.id}/setup`, browser);
		const words = shellWords(tryItCommand(html));
		expect(words.slice(0, 9)).toEqual(["curl", "-X", "POST", d.ingestUrl, "-H", "Authorization: Bearer <your ingest token>", "-H", "Content-Type: application/json", "-d"]);
		expect(words).toHaveLength(10);
		const body = JSON.parse(words[9]!) as { segmentMembership: { ups: Record<string, unknown> }; identityMap: Record<string, unknown> };
		expect(Object.keys(body.segmentMembership.ups)).toEqual([HOSTILE_SEGMENT]);
		expect(Object.keys(body.identityMap)).toEqual([HOSTILE_NAMESPACE]);
	});

	it("quotes the new token's header too, after a rotation", async () => {
		const d = await createDestination({ name: "Shell rotate" });
		await putMapping(d.id, { identityNamespace: "Oid", segments: [{ segmentId: HOSTILE_SEGMENT, mappingId: 4 }] });
		const browser = await signInConsole();
		const res = await submit(`/destinations/${d.id}/setup/rotate`, {}, browser, `/destinations/${d.id}/setup`);
		expect(res.status).toBe(200);
		const words = shellWords(tryItCommand(await res.text()));
		expect(words).toHaveLength(10);
		expect(words[5]).toMatch(/^Authorization: Bearer [A-Za-z0-9_-]{43}$/);
	});
});
