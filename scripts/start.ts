/** `npm start`: the Worker on 127.0.0.1:8787 and the local Outreach on 127.0.0.1:8788, wired together. */
import { parseArgs } from "node:util";
import { ensureDevVars, startStack } from "./stack.ts";

const { values } = parseArgs({
	options: {
		port: { type: "string", default: "8787" },
		"outreach-port": { type: "string", default: "8788" },
		"persist-to": { type: "string" },
	},
});
const outreachUrl = `http://127.0.0.1:${values["outreach-port"]}`;
const { vars, created } = ensureDevVars(outreachUrl);
if (created) console.log("Created .dev.vars with generated development secrets (git-ignored).");

console.log("Starting the local Outreach and the Worker (wrangler dev)…");
const stack = await startStack({
	workerPort: Number(values.port),
	outreachPort: Number(values["outreach-port"]),
	persistTo: values["persist-to"],
	vars: { ...vars, OUTREACH_API_BASE: outreachUrl },
	echo: true,
}).catch((err: Error) => {
	console.error(`Could not start: ${err.message}`);
	process.exit(1);
});

console.log(`
Ready.
  Console:          ${stack.workerUrl}/
  Admin token:      ${vars.ADMIN_TOKEN}   (from .dev.vars; sign in to the console with it)
  Admin API:        curl -H "Authorization: Bearer $ADMIN_TOKEN" ${stack.workerUrl}/api/destinations
  Local Outreach:   ${stack.outreachUrl}  (sign in as rep@example.com / outreach)
Press Ctrl-C to stop both.
`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const)
	process.on(signal, () => {
		if (stopping) return;
		stopping = true;
		console.log("\nStopping…");
		void stack.stop().then(() => process.exit(0));
	});
