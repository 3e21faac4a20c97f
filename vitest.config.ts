import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/** Fixed, obviously-fake secrets for tests; `npm start` generates its own into .dev.vars. */
export const testSecrets = {
	ADMIN_TOKEN: "test-admin-token-0123456789abcdef0123456789",
	TOKEN_ENCRYPTION_KEY: "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=",
	OUTREACH_CLIENT_ID: "local-client",
	OUTREACH_CLIENT_SECRET: "local-secret",
};

/**
 * How big the fault and fuzz suites run: short forms in `npm test`, full ones through `npm run test:faults`
 * (FAULTS_FULL=1) and `npm run test:fuzz` (FUZZ_RUNS=10000). Tests read them with `inject` (test/suite-size.ts).
 */
const suiteSize = {
	faultsFull: process.env.FAULTS_FULL === "1",
	faultsSeed: Number(process.env.FAULTS_SEED) || 20261129,
	fuzzRuns: Number(process.env.FUZZ_RUNS) || 1000,
};

declare module "vitest" {
	export interface ProvidedContext {
		faultsFull: boolean;
		faultsSeed: number;
		fuzzRuns: number;
	}
}

export default defineConfig({
	test: {
		// Structured logs are printed only for failing tests.
		silent: "passed-only",
		projects: [
			{
				plugins: [
					cloudflareTest(({ inject }) => ({
						wrangler: { configPath: "./wrangler.toml" },
						miniflare: {
							bindings: {
								...testSecrets,
								OUTREACH_API_BASE: inject("outreachBase"),
								// A compressed budget window so budget behaviour is observable in seconds.
								OUTREACH_RATE_LIMIT: "100",
								OUTREACH_RATE_WINDOW_SECONDS: "5",
								RETRY_BASE_SECONDS: "1",
								// Short leases, so tests can watch a grant run out (a PATCH is sent only with more than the timeout left).
								GRANT_LEASE_SECONDS: "6",
								OUTREACH_TIMEOUT_SECONDS: "3",
								PUBLIC_BASE_URL: "http://localhost:8787",
							},
						},
					})),
				],
				test: {
					name: "workers",
					include: ["test/**/*.test.ts"],
					// Node-side checks are named *.node.test.ts and browser ones *.browser.test.ts, so each room keeps its tests in one folder.
					exclude: ["test/**/*.node.test.ts", "test/**/*.browser.test.ts"],
					globalSetup: ["./test/global-setup.ts"],
					provide: suiteSize,
					// One local Outreach serves every file and tests reset it: run files one at a time.
					fileParallelism: false,
					testTimeout: 30_000,
					hookTimeout: 30_000,
				},
			},
			{
				// Checks that need Node and the build tools, e.g. what `wrangler deploy` would upload.
				test: { name: "node", include: ["test/**/*.node.test.ts"], environment: "node", testTimeout: 120_000 },
			},
			{
				// Headless Chromium against the `npm start` stack, in Node (not inside workerd).
				test: {
					name: "browser",
					include: ["test/**/*.browser.test.ts"],
					environment: "node",
					testTimeout: 180_000,
					hookTimeout: 180_000,
				},
			},
		],
	},
});
