import { describe, expect, it } from "vitest";
import { launchAdvice, missingLibraries } from "../helpers/chromium.ts";

describe("the browser tests' launcher", () => {
	it("names the libraries a system lacks and what to install", () => {
		const message =
			"browserType.launch: Browser closed.\n/tmp/chromium: error while loading shared libraries: libnss3.so: cannot open shared object file: No such file or directory";
		expect(missingLibraries(message)).toEqual(["libnss3.so"]);
		const advice = launchAdvice(message);
		expect(advice).toContain("libnss3.so");
		expect(advice).toContain("apt-get install");
		expect(advice).toContain("CHROMIUM_PATH");
	});

	it("gives no install advice for a failure that is not a missing library", () => {
		expect(launchAdvice("browserType.launch: Timeout 180000ms exceeded.")).toBeNull();
	});
});
