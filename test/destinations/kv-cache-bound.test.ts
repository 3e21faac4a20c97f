import { SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { adminJson, createDestination } from "../helpers/control";

/**
 * The in-memory cache of KV records (src/destinations/records.ts) holds at most 1,000 entries per isolate, so
 * unauthenticated requests naming fresh destination ids cannot grow a Worker's memory without bound: the
 * least recently used entries give way. Observed through GET /api/metrics (`kvReads` counts cache misses).
 */

const CAPACITY = 1_000;

const kvReads = async () => (await adminJson<{ kvReads: number }>("/api/metrics")).kvReads;

/**
 * Unauthenticated ingest requests, each naming a destination id nobody has used. They carry no token: a wrong
 * one would also be counted by the cross-isolate wrong-token limit (429 after 100 from one address), which is not
 * what this test is about; the destination is looked up either way.
 */
async function freshIds(n: number): Promise<void> {
	const ids = Array.from({ length: n }, () => crypto.randomUUID());
	for (let at = 0; at < ids.length; at += 100)
		await Promise.all(
			ids.slice(at, at + 100).map(async (id) => {
				const res = await SELF.fetch(`http://localhost/ingest/${id}`, { method: "POST", body: "{}" });
				expect(res.status).toBe(401);
				await res.body?.cancel();
			}),
		);
}

afterEach(() => {
	vi.useRealTimers();
});

describe("the KV record cache", () => {
	it(`keeps at most ${CAPACITY} entries: fresh ids push out the least recently used`, { timeout: 60_000 }, async () => {
		const { id } = await createDestination({ name: "Cached" });
		await adminJson(`/api/destinations/${id}`); // the destination and its (absent) connection are now cached
		const before = await kvReads();
		await adminJson(`/api/destinations/${id}`);
		expect(await kvReads(), "a second read within the cache's 5 seconds is a hit").toBe(before);

		// The clock stands still while the fresh ids arrive, so the cached entry can only be pushed out, never
		// expire (5 s), however long a loaded machine takes to send 1,010 requests.
		vi.useFakeTimers({ toFake: ["Date"] });
		await freshIds(CAPACITY + 10);
		const afterFresh = await kvReads();
		expect(afterFresh - before, "every fresh id was a miss").toBeGreaterThanOrEqual(CAPACITY + 10);
		await adminJson(`/api/destinations/${id}`);
		expect(await kvReads(), "the destination was pushed out, so it is read from KV again").toBeGreaterThan(afterFresh);
	});
});
