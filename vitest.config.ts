import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { startLocalOutreach, type LocalOutreach } from "./local-outreach/server.ts";

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

/**
 * Each test runtime (one Miniflare per pool worker) gets a local Outreach of its own, started when the runtime
 * starts, so Worker test files run in parallel without resetting each other's Outreach. test/global-setup.ts
 * closes them all when the run ends.
 */
async function ownLocalOutreach(): Promise<string> {
	const outreach = await startLocalOutreach({ port: 0 });
	((globalThis as { [LOCAL_OUTREACHES]?: LocalOutreach[] })[LOCAL_OUTREACHES] ??= []).push(outreach);
	return outreach.url;
}
const LOCAL_OUTREACHES = Symbol.for("aep-outreach.local-outreaches");

/** Node-side checks are named *.node.test.ts and browser ones *.browser.test.ts, so each room keeps its tests in one folder. */
const NOT_WORKERS = ["test/**/*.node.test.ts", "test/**/*.browser.test.ts"];

/**
 * Worker test files share a runtime (one per pool worker, files one after another) unless they need a fresh
 * one: starting a runtime and loading the Worker costs about 3 s of CPU a file, most of the suite's time when
 * paid 80 times. These need a fresh runtime because what they assert is per isolate or about an empty world:
 * - the wrong-token throttle counts per isolate, so other files' wrong tokens would throttle theirs;
 * - per-isolate counters (queue messages while held, KV reads of the record cache) must move only for them;
 * - an empty console, mappings with no other destination writing the same field, and an alert run that
 *   evaluates only the destinations the test made.
 * Vitest runs projects in the order of their names: "isolated" comes before "workers", so its long held-work
 * test starts first instead of last.
 */
const FRESH_RUNTIME = [
	"test/alerts/evaluate.test.ts",
	"test/auth/**/*.test.ts",
	"test/console/flow.test.ts",
	"test/api/mapping-validation.test.ts",
	"test/api/mapping-verify.test.ts",
	"test/ledger/held.test.ts",
	"test/destinations/kv-cache-bound.test.ts",
];

/** A project of tests that run inside workerd against a local Outreach of their runtime's own. */
function workersProject(name: string, files: { isolate: boolean; include: string[]; exclude: string[] }) {
	return {
		plugins: [
			cloudflareTest(async () => ({
				wrangler: { configPath: "./wrangler.toml" },
				miniflare: {
					bindings: {
						...testSecrets,
						OUTREACH_API_BASE: await ownLocalOutreach(),
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
			name,
			...files,
			globalSetup: ["./test/global-setup.ts"],
			provide: suiteSize,
			testTimeout: 30_000,
			hookTimeout: 30_000,
		},
	};
}

export default defineConfig({
	test: {
		// Structured logs are printed only for failing tests.
		silent: "passed-only",
		// Most of a Worker test's time is spent waiting on compressed rate windows, leases and the bulk engines, not
		// computing, so three times as many files run at once as there are cores (measured on 2 cores, 750 tests:
		// 6 files 229 s, 4 files 288 s; earlier, 4 files 250 s against 3 files 297 s); each runtime has its own
		// local Outreach (ownLocalOutreach).
		maxWorkers: Number(process.env.TEST_WORKERS) || 6,
		projects: [
			workersProject("workers", { isolate: false, include: ["test/**/*.test.ts"], exclude: [...NOT_WORKERS, ...FRESH_RUNTIME] }),
			workersProject("isolated", { isolate: true, include: FRESH_RUNTIME, exclude: NOT_WORKERS }),
			{
				// Checks that need Node and the build tools, e.g. what `wrangler deploy` would upload.
				// Hooks get the tests' allowance: on a loaded 2-core CI machine a fixture that takes 1 s here took over 10 s.
				test: { name: "node", include: ["test/**/*.node.test.ts"], environment: "node", testTimeout: 120_000, hookTimeout: 120_000 },
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
