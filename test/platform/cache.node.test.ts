import { describe, expect, it } from "vitest";
import { LruCache } from "../../src/platform/cache.ts";

describe("LruCache", () => {
	it("never holds more than its capacity, forgetting the least recently used entry", () => {
		const cache = new LruCache<string, number>(3);
		for (const [k, v] of [["a", 1], ["b", 2], ["c", 3]] as const) cache.set(k, v);
		expect(cache.get("a")).toBe(1); // a is now the most recently used: b is the oldest
		cache.set("d", 4);
		expect(cache.size).toBe(3);
		expect(cache.has("b")).toBe(false);
		expect([cache.get("a"), cache.get("c"), cache.get("d")]).toEqual([1, 3, 4]);
		for (let i = 0; i < 10_000; i++) cache.set(`k${i}`, i);
		expect(cache.size).toBe(3);
		expect([cache.get("k9997"), cache.get("k9998"), cache.get("k9999")]).toEqual([9997, 9998, 9999]);
	});

	it("replaces a key's value in place without growing, and deletes", () => {
		const cache = new LruCache<string, string | null>(2);
		cache.set("a", "1").set("a", "2").set("b", null);
		expect(cache.size).toBe(2);
		expect(cache.get("a")).toBe("2");
		expect(cache.get("b")).toBeNull(); // a stored null (a KV miss) is a hit, not "absent"
		expect(cache.has("b")).toBe(true);
		expect(cache.delete("a")).toBe(true);
		expect(cache.get("a")).toBeUndefined();
		cache.clear();
		expect(cache.size).toBe(0);
	});

	it("refuses a capacity that is not a positive whole number", () => {
		for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new LruCache(bad)).toThrow(RangeError);
	});
});
