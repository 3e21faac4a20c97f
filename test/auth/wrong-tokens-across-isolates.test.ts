import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createDestination } from "../helpers/control";

/**
 * Wrong tokens are counted across isolates (issue 22): the count lives in Workers' Rate Limiting binding, not
 * only in this isolate's memory. Another isolate's wrong tokens are played here by spending the binding's count
 * directly; the isolate answering has seen none itself, and still throttles — while the right token works.
 */

async function spendElsewhere(limiter: RateLimit, key: string, times: number): Promise<void> {
	for (let i = 0; i < times; i++) await limiter.limit({ key });
}

describe("wrong-token throttling across isolates", () => {
	it("admin API: wrong tokens counted by other isolates throttle this one; the right token still works", async () => {
		const address = "198.51.100.7";
		await spendElsewhere(env.ADMIN_WRONG_TOKENS, `ip:${address}`, 10);
		const headers = (token: string) => ({ "CF-Connecting-IP": address, Authorization: `Bearer ${token}` });
		const wrong = await SELF.fetch("http://localhost/api/destinations", { headers: headers("w".repeat(43)) });
		expect(wrong.status, "the first wrong token this isolate sees").toBe(429);
		expect(wrong.headers.get("Retry-After")).toBe("60");
		expect((await SELF.fetch("http://localhost/api/destinations", { headers: headers(env.ADMIN_TOKEN) })).status).toBe(200);
		// Another address has its own count.
		const other = await SELF.fetch("http://localhost/api/destinations", { headers: { "CF-Connecting-IP": "198.51.100.8", Authorization: "Bearer wrong" } });
		expect(other.status).toBe(401);
	});

	it("ingest: wrong ingest tokens counted elsewhere throttle here; the right token is accepted", async () => {
		const d = await createDestination({ name: "Throttled ingest" });
		const address = "198.51.100.9";
		await spendElsewhere(env.INGEST_WRONG_TOKENS, `ingest:ip:${address}`, 100);
		const post = (token: string) =>
			SELF.fetch(`http://localhost/ingest/${d.id}`, {
				method: "POST",
				headers: { "CF-Connecting-IP": address, Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
				body: "[]",
			});
		const wrong = await post("w".repeat(43));
		expect(wrong.status).toBe(429);
		expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/the right token still works/);
		expect((await post(d.ingestToken)).status).not.toBe(429);
		expect((await post(d.ingestToken)).status).not.toBe(401);
	});
});
