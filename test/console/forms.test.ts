import { describe, expect, it } from "vitest";
import { safeNext } from "../../src/console/forms";

describe("the sign-in return path", () => {
	it("keeps same-origin paths", () => {
		expect(safeNext("/destinations/abc?tab=1#x")).toBe("/destinations/abc?tab=1#x");
	});

	it("never redirects off the site, however the path is disguised", () => {
		for (const next of ["//evil.example", "/\t/evil.example", "/\\evil.example", "/\n/evil.example", "https://evil.example", "javascript:alert(1)", "", undefined])
			expect(safeNext(next), JSON.stringify(next)).toBe("/");
	});
});
