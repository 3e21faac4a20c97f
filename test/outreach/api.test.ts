import { describe, expect, it } from "vitest";
import { parseRateInfo, parseTime } from "../../src/outreach/api";

describe("reading Outreach's rate-limit signals defensively", () => {
	const now = Date.UTC(2026, 10, 29, 12, 0, 0);

	it("reads the reset as epoch seconds, epoch milliseconds or ISO-8601", () => {
		expect(parseTime("1796040000", now)).toBe(1796040000_000);
		expect(parseTime("1796040000123", now)).toBe(1796040000123);
		expect(parseTime("2026-11-29T12:30:00Z", now)).toBe(Date.UTC(2026, 10, 29, 12, 30));
		expect(parseTime("2026-11-29T12:30:00", now)).toBe(Date.UTC(2026, 10, 29, 12, 30));
		expect(parseTime("garbage", now)).toBeUndefined();
	});

	it("takes Retry-After seconds and the 429 message's 'try again at' time, whichever is later", () => {
		const headers = new Headers({ "X-RateLimit-Limit": "10000", "X-RateLimit-Remaining": "0", "Retry-After": "30" });
		const rate = parseRateInfo(headers, [{ detail: "You have exceeded your permitted rate limit of 10,000; please try again at 2026-11-29T12:05:00.000Z." }], now);
		expect(rate).toEqual({ limit: 10000, remaining: 0, resetAt: Date.UTC(2026, 10, 29, 12, 5) });
		expect(parseRateInfo(new Headers({ "Retry-After": "30" }), [], now).resetAt).toBe(now + 30_000);
	});

	it("reads the seed's message format without a time zone", () => {
		const rate = parseRateInfo(new Headers(), [{ detail: "You have exceeded your permitted rate limit of 10,000; please try again at 2017-01-01T00:00:00." }], now);
		expect(rate.resetAt).toBe(Date.UTC(2017, 0, 1));
	});
});
