import { parseArgs } from "node:util";
import { startLocalOutreach } from "./server.ts";

const { values } = parseArgs({ options: { port: { type: "string", default: "8788" }, host: { type: "string", default: "127.0.0.1" } } });
const outreach = await startLocalOutreach({ port: Number(values.port), host: values.host });
console.log(`local Outreach listening on ${outreach.url}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void outreach.close().then(() => process.exit(0)));
