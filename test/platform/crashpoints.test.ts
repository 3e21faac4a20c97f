import { afterEach, describe, expect, it } from "vitest";
import { crashAt, disarmAll, faultAt } from "../../src/platform/crashpoints";

/**
 * The Worker tests share one runtime across files, so a queue retry of an earlier file's destination can pass a
 * fault point while a later test has armed it. A fault armed for one destination waits for that destination.
 */
describe("a fault point armed for one destination", () => {
	afterEach(() => disarmAll());

	it("is not taken by another destination's pass, and is taken once by its own", () => {
		crashAt("queue.lost", 1, "mine");
		expect(faultAt("queue.lost", "an earlier file's")).toBe(false);
		expect(faultAt("queue.lost")).toBe(false);
		expect(faultAt("queue.lost", "mine")).toBe(true);
		expect(faultAt("queue.lost", "mine")).toBe(false);
	});

	it("armed for no destination, is taken by the next pass, whoever's", () => {
		crashAt("queue.lost", 2);
		expect(faultAt("queue.lost", "any")).toBe(true);
		expect(faultAt("queue.lost")).toBe(true);
		expect(faultAt("queue.lost", "any")).toBe(false);
	});
});
