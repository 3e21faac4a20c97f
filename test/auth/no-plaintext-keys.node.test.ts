import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, generateDevVars, startStack, type Stack } from "../../scripts/stack.ts";

/**
 * No key in plaintext in local state (issue 22's acceptance): the Worker runs under `wrangler dev` with its
 * state in a folder of its own (what `npm start` keeps in .wrangler/state), an API key and an ingest token are
 * created and used (API, console sign-in, a wrong attempt), and every file of the state — KV, Durable Object
 * SQLite, caches — and the processes' log output is scanned for them. The key's public id is found (so the scan
 * does read the Durable Objects' storage); its secret never is.
 */

function filesUnder(dir: string): string[] {
	return readdirSync(dir).flatMap((name) => {
		const path = join(dir, name);
		return statSync(path).isDirectory() ? filesUnder(path) : [path];
	});
}

let stack: Stack;
let persistTo: string;
let vars: Record<string, string>;

beforeAll(async () => {
	persistTo = mkdtempSync(join(tmpdir(), "aep-no-plaintext-"));
	const [workerPort, outreachPort] = [await freePort(), await freePort()];
	vars = generateDevVars(`http://127.0.0.1:${outreachPort}`);
	stack = await startStack({ workerPort, outreachPort, persistTo, vars });
}, 120_000);

afterAll(async () => {
	await stack?.stop();
	if (persistTo) rmSync(persistTo, { recursive: true, force: true });
});

describe("local state", () => {
	it("holds no API key or ingest token in plaintext, in KV, Durable Objects or logs", { timeout: 120_000 }, async () => {
		const call = (token: string, path: string, init: RequestInit = {}) =>
			fetch(`${stack.workerUrl}${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...(init.headers ?? {}) } });
		const created = (await (await call(vars.ADMIN_TOKEN!, "/api/keys", { method: "POST", body: JSON.stringify({ name: "scan me", role: "manage" }) })).json()) as { id: string; key: string };
		expect(created.key).toMatch(/^aok_/);
		const destination = (await (await call(created.key, "/api/destinations", { method: "POST", body: JSON.stringify({ name: "Scanned" }) })).json()) as { id: string; ingestToken: string };
		expect(destination.ingestToken).toBeTruthy();
		expect((await call(created.key, "/api/audit")).status).toBe(200);
		const signIn = await fetch(`${stack.workerUrl}/signin`, {
			method: "POST",
			body: new URLSearchParams({ token: created.key, next: "/" }),
			headers: { Origin: stack.workerUrl },
			redirect: "manual",
		});
		expect(signIn.status).toBe(303);
		// A wrong key with the real one's id: logged as a refusal, never with what was presented.
		expect((await call(`${created.key.slice(0, -3)}xyz`, "/api/destinations")).status).toBe(401);
		await stack.stop();

		const secrets = { "the API key": created.key, "its secret part": created.key.split("_")[2]!, "the ingest token": destination.ingestToken };
		const files = filesUnder(persistTo);
		expect(files.length).toBeGreaterThan(0);
		const all = Buffer.concat(files.map((f) => readFileSync(f)));
		expect(all.includes(Buffer.from(created.id)), "the key's id is in the Durable Object state: the scan reads it").toBe(true);
		for (const [what, value] of Object.entries(secrets)) {
			expect(all.includes(Buffer.from(value)), `${what} in ${persistTo}`).toBe(false);
			expect(stack.output().includes(value), `${what} in the log output`).toBe(false);
		}
	});
});
