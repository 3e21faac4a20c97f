import { env, listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import {
	admin,
	connectDestination,
	createConnectedDestination,
	createDestination,
	gateAccessToken,
	outreachFaults,
	outreachTokens,
	resetOutreach,
	sleep,
} from "../../helpers/control";

/**
 * No token Outreach ever issued may be found anywhere this Worker stores data: every KV value and every row
 * of every Durable Object's storage (SQLite tables and the object's key-value storage).
 */

/** Every KV key and value, as text. */
async function dumpKv(): Promise<string[]> {
	const out: string[] = [];
	let cursor: string | undefined;
	do {
		const page = await env.CONFIG.list({ cursor });
		for (const key of page.keys) out.push(key.name, (await env.CONFIG.get(key.name, "text")) ?? "", JSON.stringify(key.metadata ?? null));
		cursor = page.list_complete ? undefined : page.cursor;
	} while (cursor);
	return out;
}

/** Every row of every table, and every key-value entry, of every object of a Durable Object namespace. */
async function dumpObjects<T extends Rpc.DurableObjectBranded | undefined>(namespace: DurableObjectNamespace<T>): Promise<string[]> {
	const out: string[] = [];
	for (const id of await listDurableObjectIds(namespace)) {
		await runInDurableObject(namespace.get(id), async (_instance: unknown, state: DurableObjectState) => {
			const tables = state.storage.sql
				.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'`)
				.toArray();
			for (const { name } of tables) {
				out.push(`table ${name}`);
				for (const row of state.storage.sql.exec(`SELECT * FROM "${name}"`).toArray()) out.push(JSON.stringify(row));
			}
			for (const [key, value] of await state.storage.list()) out.push(key, JSON.stringify(value));
		});
	}
	return out;
}

describe("tokens at rest", () => {
	let stored: string;
	let tokens: string[];

	beforeAll(async () => {
		await resetOutreach({ accessTokenTtlSeconds: 1 });
		// Several grants in several states: refreshed, disconnected, revoked-then-lost, reconnected.
		const a = await createConnectedDestination({ name: "A" });
		const b = await createConnectedDestination({ name: "B" });
		const c = await createConnectedDestination({ name: "C" });
		await sleep(1_100);
		expect((await gateAccessToken(a.id)).ok).toBe(true);
		expect((await admin(`/api/destinations/${c.id}/connection`, { method: "DELETE" })).status).toBe(200);
		await outreachFaults({ revokeAllTokens: true });
		await sleep(1_100);
		expect(await gateAccessToken(b.id)).toMatchObject({ status: "reconnect_required" });
		await connectDestination(b.id);
		await createDestination({ name: "never connected" });

		tokens = (await outreachTokens()).tokens.map((t) => t.value);
		stored = [...(await dumpKv()), ...(await dumpObjects(env.GATE)), ...(await dumpObjects(env.LEDGER))].join("\n");
	});

	it("the local Outreach issued tokens of every kind and state", async () => {
		const all = (await outreachTokens()).tokens;
		expect(new Set(all.map((t) => t.type))).toEqual(new Set(["access", "refresh"]));
		expect(new Set(all.map((t) => t.state))).toEqual(new Set(["active", "expired", "revoked", "used"]));
		expect(tokens.length).toBeGreaterThan(8);
	});

	it("the dump really covers the grants (tables and KV connection records)", () => {
		expect(stored).toContain("table grants");
		expect(stored).toMatch(/"sealed":"v1\.[\w-]+\.[\w-]+\.[\w-]+"/);
		expect(stored).toMatch(/"grant":"v1\./);
	});

	it("finds none of the tokens in KV or Durable Object storage", () => {
		const found = tokens.filter((t) => stored.includes(t));
		expect(found).toEqual([]);
	});
});
