import { beforeEach, describe, expect, it } from "vitest";
import { api, expectError, patchProspect, peek, reset, setFaults, signIn, sleep } from "./helpers.ts";

type Stats = { status429: number; usage: { userId: number; windowStart: number; count: number }[] };

const MESSAGE = /^You have exceeded your permitted rate limit of ([\d,]+); please try again at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\.$/;

function quota(res: Response) {
	return {
		limit: res.headers.get("X-RateLimit-Limit"),
		remaining: res.headers.get("X-RateLimit-Remaining"),
		reset: Number(res.headers.get("X-RateLimit-Reset")),
	};
}

let token: string;

describe("local Outreach: the per-user rate limit (3 calls per 2 s)", () => {
	beforeEach(async () => {
		await reset({ rateLimit: { limit: 3, windowSeconds: 2 } });
		token = (await signIn()).access_token;
	});

	it("puts the quota headers on every response, errors included", async () => {
		const before = Date.now();
		const ok = await patchProspect(token, 1, { firstName: "A" });
		const notFound = await patchProspect(token, 10_001, { firstName: "A" });
		const invalid = await patchProspect(token, 1, { custom151: "A" });
		const limited = await patchProspect(token, 1, { firstName: "A" });
		expect([ok.status, notFound.status, invalid.status, limited.status]).toEqual([200, 404, 422, 429]);
		expect([ok, notFound, invalid, limited].map((r) => quota(r).remaining)).toEqual(["2", "1", "0", "0"]);
		for (const res of [ok, notFound, invalid, limited]) expect(res.headers.get("X-RateLimit-Limit")).toBe("3");

		const { usage } = await peek<Stats>("/__fake/stats");
		expect(usage).toEqual([{ userId: 1, windowStart: expect.any(Number), count: 3 }]);
		const windowStart = usage[0]!.windowStart;
		expect(windowStart).toBeGreaterThanOrEqual(before - 1000);
		// Unix epoch seconds of the window's end: the window opened at the first counted call.
		expect(quota(ok).reset).toBe(Math.ceil((windowStart + 2000) / 1000));
		expect(quota(limited).reset).toBe(quota(ok).reset);
	});

	it("answers 429 rateLimitExceeded with Outreach's message and Retry-After, and does not count it", async () => {
		for (let i = 0; i < 3; i++) expect((await api(token, "GET", "/prospects/1")).status).toBe(200);
		const res = await api(token, "GET", "/prospects/1");
		const [error] = await expectError(res, 429, "rateLimitExceeded");
		const match = MESSAGE.exec(error!.detail);
		expect(match, error!.detail).not.toBeNull();
		expect(match![1]).toBe("3");
		const tryAgainAt = Date.parse(match![2]!);
		expect(Math.ceil(tryAgainAt / 1000)).toBe(quota(res).reset);

		const retryAfter = res.headers.get("Retry-After")!;
		expect(retryAfter).toMatch(/^\d+$/);
		expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
		expect(Number(retryAfter)).toBeLessThanOrEqual(2);

		expect((await api(token, "GET", "/prospects/1")).status).toBe(429);
		const stats = await peek<Stats>("/__fake/stats");
		expect(stats.usage[0]!.count).toBe(3);
		expect(stats.status429).toBe(2);
	});

	it("opens a new window at the first call after the previous one ended", async () => {
		for (let i = 0; i < 4; i++) await api(token, "GET", "/prospects/1");
		const first = (await peek<Stats>("/__fake/stats")).usage[0]!;
		await sleep(first.windowStart + 2000 - Date.now() + 300);
		const res = await api(token, "GET", "/prospects/1");
		expect(res.status).toBe(200);
		expect(quota(res).remaining).toBe("2");
		const second = (await peek<Stats>("/__fake/stats")).usage[0]!;
		expect(second.windowStart).toBeGreaterThanOrEqual(first.windowStart + 2000);
		expect(second.count).toBe(1);
		expect(quota(res).reset).toBe(Math.ceil((second.windowStart + 2000) / 1000));
	});

	it("counts injected faults against the limit", async () => {
		await setFaults({ status: 503, count: 2 });
		const faulted = await api(token, "GET", "/prospects/1");
		expect(faulted.status).toBe(503);
		expect(quota(faulted).remaining).toBe("2");
		expect((await api(token, "GET", "/prospects/1")).status).toBe(503);
		expect((await api(token, "GET", "/prospects/1")).status).toBe(200);
		expect((await api(token, "GET", "/prospects/1")).status).toBe(429);
	});

	it("does not count requests without a valid token, nor give them quota headers", async () => {
		const res = await api("not-a-token", "GET", "/prospects/1");
		expect(res.status).toBe(401);
		expect(res.headers.get("X-RateLimit-Limit")).toBeNull();
		expect((await peek<Stats>("/__fake/stats")).usage).toEqual([]);
	});

	it("keeps one budget per user, shared by all that user's tokens", async () => {
		await reset({
			rateLimit: { limit: 3, windowSeconds: 2 },
			users: [
				{ id: 1, email: "rep@example.com", password: "outreach" },
				{ id: 2, email: "ann@example.com", password: "pw" },
			],
		});
		const a1 = (await signIn()).access_token;
		const a2 = (await signIn()).access_token;
		const b = (await signIn({ email: "ann@example.com", password: "pw" })).access_token;
		for (const t of [a1, a2, a1]) expect((await api(t, "GET", "/prospects/1")).status).toBe(200);
		expect((await api(a2, "GET", "/prospects/1")).status).toBe(429);
		const other = await api(b, "GET", "/prospects/1");
		expect(other.status).toBe(200);
		expect(quota(other).remaining).toBe("2");
	});

	it("writes the limit with thousands separators, as Outreach does", async () => {
		await reset();
		const { access_token } = await signIn();
		await setFaults({ spendBudget: { userId: 1, calls: 10_000 } });
		const [error] = await expectError(await api(access_token, "GET", "/users/me"), 429, "rateLimitExceeded");
		expect(MESSAGE.exec(error!.detail)?.[1]).toBe("10,000");
	});
});
