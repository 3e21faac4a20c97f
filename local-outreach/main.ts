import { parseArgs } from "node:util";
import { z } from "zod";
import { startLocalOutreach } from "./server.ts";

// `node local-outreach/main.ts [--port 8788] [--host 127.0.0.1] [--rate-limit 10000] [--window-seconds 3600]
// [--token-ttl 7200]`. The limit flags compress time for the benchmark; they are also what an empty reset restores.
const { values } = parseArgs({
	options: {
		port: { type: "string", default: "8788" },
		host: { type: "string", default: "127.0.0.1" },
		"rate-limit": { type: "string" },
		"window-seconds": { type: "string" },
		"token-ttl": { type: "string" },
	},
});

const limit = Number(values["rate-limit"] ?? 10_000);
const windowSeconds = Number(values["window-seconds"] ?? 3600);
const outreach = await startLocalOutreach({
	port: Number(values.port),
	host: values.host,
	rateLimit: { limit, windowSeconds },
	...(values["token-ttl"] ? { accessTokenTtlSeconds: Number(values["token-ttl"]) } : {}),
}).catch((err: unknown) => {
	console.error(`local Outreach cannot start: ${err instanceof z.ZodError ? z.prettifyError(err) : String(err)}`);
	process.exit(1);
});
console.log(`local Outreach listening on ${outreach.url} (rate limit ${limit} per ${windowSeconds} s)`);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void outreach.close().then(() => process.exit(0)));
