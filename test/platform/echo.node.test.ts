import { describe, expect, it } from "vitest";
import { capMessage, quote } from "../../src/platform/echo.ts";

describe("quote", () => {
	it("keeps short input as it is and cuts long input to 200 characters, saying how much was left out", () => {
		expect(quote("Oid")).toBe("Oid");
		expect(quote("x".repeat(5_000))).toBe(`${"x".repeat(200)}… (4,800 more characters)`);
		expect(quote("abcdef", 3)).toBe("abc… (3 more characters)");
	});

	it("never splits a surrogate pair", () => {
		const q = quote("😀".repeat(300));
		expect(q).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
	});
});

describe("capMessage", () => {
	it("keeps a message within the cap, with its start and its end", () => {
		const message = `Bad request: ${"word, ".repeat(10_000)} Mapping ID 4`;
		const capped = capMessage(message);
		expect(capped.length).toBeLessThanOrEqual(1_000);
		expect(capped.startsWith("Bad request: word,")).toBe(true);
		expect(capped.endsWith("Mapping ID 4")).toBe(true);
		expect(capped).toMatch(/characters left out/);
		expect(capMessage("short")).toBe("short");
	});

	it("never leaves half of a surrogate pair at either cut", () => {
		const capped = capMessage("😀".repeat(2_000), 101);
		expect(capped).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
	});
});
