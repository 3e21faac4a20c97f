import sparticuz from "@sparticuz/chromium";
import { chromium, type Browser } from "playwright-core";

/**
 * Headless Chromium for the browser tests, from npm: `@sparticuz/chromium` ships the binary (pinned in
 * package.json), so `npm install && npm test` works on a machine with nothing else installed. A system
 * browser is used only when asked for: `CHROMIUM_PATH=/path/to/chromium npm test`.
 */

// Flags of the packaged build that would make the browser less strict than a user's: the tests check CSP and
// same-origin behaviour, so those stay on.
const LAX = new Set(["--disable-web-security", "--allow-running-insecure-content"]);
// The closed network of CI machines refuses Chromium's background connections; they are noise, not tests.
const QUIET = ["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"];

/** Which shared libraries the loader could not find, from the browser's own error output. */
export function missingLibraries(message: string): string[] {
	return [...new Set([...message.matchAll(/error while loading shared libraries: ([^\s:]+)/g)].map((m) => m[1]!))];
}

/** A sentence that says what to install when the browser cannot start for lack of system libraries. */
export function launchAdvice(message: string): string | null {
	const libs = missingLibraries(message);
	if (libs.length === 0) return null;
	return (
		`Headless Chromium (from @sparticuz/chromium) cannot start: this system lacks ${libs.join(", ")}. ` +
		"Install the package that provides it (on Debian/Ubuntu: `apt-get install -y libnss3 libnspr4 libatk1.0-0 libatk-bridge2.0-0 " +
		"libcups2 libdrm2 libxkbcommon0 libxcomposite1 libxdamage1 libxfixes3 libxrandr2 libgbm1 libasound2`), " +
		"or point CHROMIUM_PATH at an installed Chromium."
	);
}

export async function launchChromium(): Promise<Browser> {
	const custom = process.env.CHROMIUM_PATH?.trim();
	const executablePath = custom || (await sparticuz.executablePath());
	const args = [...sparticuz.args.filter((a) => !LAX.has(a)), ...QUIET];
	try {
		return await chromium.launch({ executablePath, args, headless: true });
	} catch (err) {
		const message = err instanceof Error ? err.message : String(err);
		const advice = launchAdvice(message);
		throw new Error(advice ?? `Headless Chromium at ${executablePath} did not start: ${message}`, { cause: err });
	}
}
