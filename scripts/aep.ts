/**
 * `npm run aep -- build|render|publish|test`: the Destination SDK package (aep/) — its request bodies, what its
 * template renders, and publishing it through AEP's authoring API (design: npm scripts).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { AuthoringClient, readAuthoringEnv, redact } from "./aep/authoring.ts";
import { buildBodies, template } from "./aep/package.ts";
import { aggregatedContext, renderPebble } from "./aep/render.ts";

const USAGE = `Usage:
  npm run aep -- build [--out DIR] [--aggregation configurable|best-effort]
  npm run aep -- render --profiles FILE --segment ID --status realized|exited --alias N
  npm run aep -- publish [--aggregation configurable|best-effort]
  npm run aep -- test --instance ID [--profiles FILE]
Env for publish and test: AEP_ACCESS_TOKEN, AEP_API_KEY, AEP_ORG_ID, AEP_SANDBOX, AEP_API_BASE (default https://platform.adobe.io).`;

const Aggregation = z.enum(["configurable", "best-effort"], { error: "--aggregation must be configurable or best-effort" });

function fail(message: string): never {
	console.error(message);
	process.exit(1);
}

const [command, ...rest] = process.argv.slice(2);
/** The options, or a usage message naming what was wrong (an unknown or valueless option is a person's typo, not a crash). */
function options() {
	try {
		return parseArgs({
			args: rest,
			options: {
				out: { type: "string", default: "aep/dist" },
				aggregation: { type: "string", default: "configurable" },
				profiles: { type: "string" },
				segment: { type: "string" },
				status: { type: "string" },
				alias: { type: "string" },
				instance: { type: "string" },
			},
			strict: true,
		});
	} catch (err) {
		return fail(`${(err as Error).message}\n${USAGE}`);
	}
}
const { values } = options();
const aggregation = Aggregation.safeParse(values.aggregation);
if (!aggregation.success) fail(aggregation.error.issues[0]!.message);

function readProfiles(file: string): unknown[] {
	let parsed: unknown;
	try {
		parsed = JSON.parse(readFileSync(file, "utf8"));
	} catch (err) {
		fail(`--profiles ${file}: ${(err as Error).message}`);
	}
	// AEP's sample-profiles API answers a list; a single profile is taken as a list of one.
	return Array.isArray(parsed) ? parsed : [parsed];
}

switch (command) {
	case "build": {
		const bodies = buildBodies(aggregation.data);
		mkdirSync(values.out!, { recursive: true });
		writeFileSync(join(values.out!, "destination-server.json"), JSON.stringify(bodies.destinationServer, null, "\t") + "\n");
		writeFileSync(join(values.out!, "destination.json"), JSON.stringify(bodies.destination, null, "\t") + "\n");
		console.log(`Wrote ${join(values.out!, "destination-server.json")} and ${join(values.out!, "destination.json")} (${aggregation.data} aggregation).`);
		break;
	}
	case "render": {
		const Args = z.object({
			profiles: z.string({ error: "--profiles FILE is required" }),
			segment: z.string({ error: "--segment ID is required" }).min(1),
			status: z.enum(["realized", "exited"], { error: "--status must be realized or exited" }),
			alias: z.string({ error: "--alias N is required (the Mapping ID)" }).regex(/^\d+$/, "--alias must be a number (the Mapping ID)"),
		});
		const args = Args.safeParse(values);
		if (!args.success) fail(`${args.error.issues.map((i) => i.message).join("; ")}\n${USAGE}`);
		const profiles = readProfiles(args.data.profiles);
		const context = aggregatedContext(profiles as never, { segmentId: args.data.segment, status: args.data.status, alias: args.data.alias });
		process.stdout.write(renderPebble(template("configurable"), context) + "\n");
		break;
	}
	case "publish":
	case "test": {
		let env;
		try {
			env = readAuthoringEnv();
		} catch (err) {
			fail((err as Error).message);
		}
		const client = new AuthoringClient(env);
		try {
			if (command === "publish") {
				const r = await client.publish(aggregation.data);
				console.log(`Destination server ${r.destinationServer.id}: ${r.destinationServer.action}.`);
				console.log(`Destination configuration ${r.destination.id}: ${r.destination.action}.`);
				// The last line is one JSON object, for scripts.
				console.log(JSON.stringify({ destinationServerId: r.destinationServer.id, destinationId: r.destination.id, serverAction: r.destinationServer.action, destinationAction: r.destination.action }));
			} else {
				if (!values.instance) fail(`--instance ID is required: the destination instance (connection) id from AEP's UI\n${USAGE}`);
				const r = await client.test(values.instance, values.profiles ? readProfiles(values.profiles) : undefined);
				const calls = r.results.flatMap((x) => x.httpCalls);
				const bad = calls.filter((c) => (c.response?.status ?? 0) >= 300);
				console.log(redact(JSON.stringify(r, null, 2), env));
				console.log(`${calls.length} request(s) sent to the destination, ${bad.length} not answered 2xx.`);
				if (bad.length || calls.length === 0) process.exitCode = 1;
			}
		} catch (err) {
			fail(redact((err as Error).message, env));
		}
		break;
	}
	default:
		fail(USAGE);
}
