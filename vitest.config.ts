import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/** Fixed, obviously-fake secrets for tests; `npm start` generates its own into .dev.vars. */
export const testSecrets = {
	ADMIN_TOKEN: "test-admin-token-0123456789abcdef0123456789",
	TOKEN_ENCRYPTION_KEY: "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=",
	OUTREACH_CLIENT_ID: "local-client",
	OUTREACH_CLIENT_SECRET: "local-secret",
};

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
								PUBLIC_BASE_URL: "http://localhost:8787",
							},
						},
					})),
				],
				test: {
					name: "workers",
					include: ["test/**/*.test.ts"],
					exclude: ["test/browser/**"],
					globalSetup: ["./test/global-setup.ts"],
					// One local Outreach serves every file and tests reset it: run files one at a time.
					fileParallelism: false,
					testTimeout: 30_000,
					hookTimeout: 30_000,
				},
			},
			{
				// Headless Chromium against the `npm start` stack, in Node (not inside workerd).
				test: {
					name: "browser",
					include: ["test/browser/**/*.test.ts"],
					environment: "node",
					testTimeout: 180_000,
					hookTimeout: 180_000,
				},
			},
		],
	},
});
