import { describe, expect, it } from "vitest";
import { defaultBulkSettings } from "../../../local-outreach/batches.ts";
import { defaultImportSettings } from "../../../local-outreach/imports.ts";
import { compressedRates, planOf } from "../../../scripts/bench/scenarios.ts";

const plan = (scenario: string, bulk = false) => planOf(scenario, { bulk, limit: 200, streamWindows: 15 });

describe("the benchmark's scenarios", () => {
	it("keep the local Outreach's bulk and import rates per call-slot of the real limit", () => {
		expect(compressedRates(10_000, 3600)).toEqual({ bulkItemsPerSecond: defaultBulkSettings.itemsPerSecond, importRecordsPerSecond: defaultImportSettings.recordsPerSecond });
		// 200 calls per 10 s is the real limit's call rate × 7.2.
		expect(compressedRates(200, 10)).toEqual({ bulkItemsPerSecond: 1440, importRecordsPerSecond: 720 });
	});

	it("run ours with bulk on in the bulk back-fills, alone, at most 10 minutes of drain", () => {
		expect(plan("backfill-bulk-mixed")).toEqual({ scenario: "backfill-bulk-mixed", bulkApi: true, peers: false, defaultProfiles: 100_000, drainCapSeconds: 600 });
		expect(plan("backfill-bulk")).toMatchObject({ bulkApi: true, peers: false, defaultProfiles: 20_000, drainCapSeconds: 600 });
	});

	it("run the stream with bulk on for ours and the peers as ever under --bulk, and refuse --bulk elsewhere", () => {
		expect(plan("stream", true)).toEqual({ scenario: "stream", bulkApi: true, peers: true, defaultProfiles: 2400, drainCapSeconds: null });
		expect(plan("stream")).toMatchObject({ bulkApi: false, peers: true });
		expect(plan("backfill")).toMatchObject({ bulkApi: false, peers: true, defaultProfiles: 4200 });
		expect(plan("backfill", true)).toEqual({ error: "--bulk goes with --scenario stream (backfill has no bulk variant)" });
		expect(plan("backfill-bulk-mixed", true)).toMatchObject({ error: expect.stringContaining("runs ours with bulk on already") });
		expect(plan("mixed")).toEqual({ error: "--scenario must be one of backfill, stream, backfill-bulk, backfill-bulk-mixed (got 'mixed')" });
	});
});
