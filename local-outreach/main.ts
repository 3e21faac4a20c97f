import { parseArgs } from "node:util";
import { z } from "zod";
import { defaultBulkSettings, type BulkSettings } from "./batches.ts";
import { defaultImportSettings, type ImportSettings } from "./imports.ts";
import { startLocalOutreach } from "./server.ts";

// `node local-outreach/main.ts [--port 8788] [--host 127.0.0.1] [--rate-limit 10000] [--window-seconds 3600]
// [--token-ttl 7200] [--bulk-items-per-second 200] [--bulk-max-ids 10000] [--bulk-daily-item-quota 5000000]
// [--bulk-in-order] [--bulk-stall] [--imports-records-per-second 100] [--imports-max-records 1000]
// [--imports-daily-record-quota 5000000] [--imports-failure-detail counts|records] [--imports-in-order]
// [--imports-stall]`. The limit flags compress time for the benchmark (scale --bulk-items-per-second and
// --imports-records-per-second by the same factor as the limit: 3600 ÷ window-seconds); all of them are also
// what an empty reset restores.
const { values } = parseArgs({
	options: {
		port: { type: "string", default: "8788" },
		host: { type: "string", default: "127.0.0.1" },
		"rate-limit": { type: "string" },
		"window-seconds": { type: "string" },
		"token-ttl": { type: "string" },
		"bulk-items-per-second": { type: "string" },
		"bulk-max-ids": { type: "string" },
		"bulk-daily-item-quota": { type: "string" },
		"bulk-in-order": { type: "boolean" },
		"bulk-stall": { type: "boolean" },
		"imports-records-per-second": { type: "string" },
		"imports-max-records": { type: "string" },
		"imports-daily-record-quota": { type: "string" },
		"imports-failure-detail": { type: "string" },
		"imports-in-order": { type: "boolean" },
		"imports-stall": { type: "boolean" },
	},
});

// Only the flags given become settings (an absent one must not override a default with undefined); the
// settings' schema then refuses anything that is not a valid number.
const bulk: Partial<BulkSettings> = {};
if (values["bulk-items-per-second"] !== undefined) bulk.itemsPerSecond = Number(values["bulk-items-per-second"]);
if (values["bulk-max-ids"] !== undefined) bulk.maxIds = Number(values["bulk-max-ids"]);
if (values["bulk-daily-item-quota"] !== undefined) bulk.dailyItemQuota = Number(values["bulk-daily-item-quota"]);
if (values["bulk-in-order"]) bulk.outOfOrder = false;
if (values["bulk-stall"]) bulk.stall = true;
const imports: Partial<Record<keyof ImportSettings, unknown>> = {};
if (values["imports-records-per-second"] !== undefined) imports.recordsPerSecond = Number(values["imports-records-per-second"]);
if (values["imports-max-records"] !== undefined) imports.maxRecords = Number(values["imports-max-records"]);
if (values["imports-daily-record-quota"] !== undefined) imports.dailyRecordQuota = Number(values["imports-daily-record-quota"]);
if (values["imports-failure-detail"] !== undefined) imports.failureDetail = values["imports-failure-detail"];
if (values["imports-in-order"]) imports.outOfOrder = false;
if (values["imports-stall"]) imports.stall = true;

const limit = Number(values["rate-limit"] ?? 10_000);
const windowSeconds = Number(values["window-seconds"] ?? 3600);
const outreach = await startLocalOutreach({
	port: Number(values.port),
	host: values.host,
	rateLimit: { limit, windowSeconds },
	...(values["token-ttl"] ? { accessTokenTtlSeconds: Number(values["token-ttl"]) } : {}),
	bulk,
	// Checked by the settings' schema like every other setting (a bad --imports-failure-detail is refused there).
	imports: imports as Partial<ImportSettings>,
}).catch((err: unknown) => {
	console.error(`local Outreach cannot start: ${err instanceof z.ZodError ? z.prettifyError(err) : String(err)}`);
	process.exit(1);
});
const rate = bulk.itemsPerSecond ?? defaultBulkSettings.itemsPerSecond;
const importRate = (imports.recordsPerSecond as number | undefined) ?? defaultImportSettings.recordsPerSecond;
console.log(`local Outreach listening on ${outreach.url} (rate limit ${limit} per ${windowSeconds} s, bulk ${rate} items/s, imports ${importRate} records/s)`);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void outreach.close().then(() => process.exit(0)));
