/**
 * The Destination SDK package: the authoring API's request bodies built from the source files in aep/ and
 * from the product's own Outreach attribute list (src/outreach/attributes.ts — never a second copy).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { mappableAttributes, prospectAttributes } from "../../src/outreach/attributes.ts";

const AEP_DIR = fileURLToPath(new URL("../../aep/", import.meta.url));
const source = (name: string) => readFileSync(AEP_DIR + name, "utf8");

export type Aggregation = "configurable" | "best-effort";

/**
 * AEP's configurable aggregation, chosen by measurement (README "Connect from AEP"): the fewest profiles AEP
 * allows in one request (1,000) keeps a full batch of profiles with attributes inside what the Worker answers
 * well within 2 s; 1,800 s is the smallest batch age both of Adobe's pages accept (one says 301, one 1,800).
 */
export const BATCH = { maxNumEventsInBatch: 1000, maxBatchAgeInSecs: 1800 } as const;
/** AEP's best-effort aggregation sends at most 10 profiles a request. */
export const BEST_EFFORT_MAX_USERS = 10;

/**
 * A template source made one line: comments (`{# … #}`) dropped, each line trimmed and joined. Safe because no
 * line of the templates breaks inside a JSON string or a Pebble tag, and JSON ignores the whitespace between
 * tokens; the shared profile fragment is inlined where `@@PROFILE@@` stands.
 */
export function template(aggregation: Aggregation): string {
	const flat = (text: string) =>
		text
			.replace(/\{#[\s\S]*?#\}/g, "")
			.split("\n")
			.map((l) => l.trim())
			.join("");
	const profile = flat(source("profile.peb"));
	return flat(source(`template-${aggregation}.peb`)).replaceAll("@@PROFILE@@", profile);
}

/** One profile field per writable, non-custom Outreach attribute, named as Outreach names it. */
export function profileFields() {
	return mappableAttributes.map((name) => {
		const spec = prospectAttributes[name]!;
		const kind = spec.type === "array" ? "a list; one value becomes a one-element list" : spec.format ? `${spec.type} (${spec.format})` : spec.type;
		return {
			name,
			title: name,
			description: `Outreach prospect attribute '${name}': ${kind}.`.slice(0, 250),
			// Strings throughout: ingest converts numbers, booleans and lists by Outreach's schema, and rejects what does not convert.
			type: "string",
			isRequired: false,
			readOnly: false,
			hidden: false,
		};
	});
}

export function aggregationConfig(aggregation: Aggregation, batch: { maxNumEventsInBatch: number; maxBatchAgeInSecs: number } = BATCH) {
	if (aggregation === "best-effort")
		return { aggregationType: "BEST_EFFORT", bestEffortAggregation: { maxUsersPerRequest: BEST_EFFORT_MAX_USERS, splitUserById: false } };
	return {
		aggregationType: "CONFIGURABLE_AGGREGATION",
		configurableAggregation: {
			splitUserById: false,
			maxBatchAgeInSecs: batch.maxBatchAgeInSecs,
			maxNumEventsInBatch: batch.maxNumEventsInBatch,
			aggregationKey: {
				includeSegmentId: true,
				includeSegmentStatus: true,
				includeIdentity: false,
				oneIdentityPerGroup: false,
			},
		},
	};
}

export type Bodies = { destinationServer: Record<string, unknown>; destination: Record<string, unknown> };

/**
 * Both request bodies. `destinationServerId` is the placeholder "@@DESTINATION_SERVER_ID@@" until publish
 * knows the server's id (build writes it as is, so the file shows where the id goes).
 */
export function buildBodies(aggregation: Aggregation = "configurable", destinationServerId = "@@DESTINATION_SERVER_ID@@"): Bodies {
	const server = JSON.parse(source("destination-server.json"));
	server.httpTemplate.requestBody.value = template(aggregation);
	const destination = JSON.parse(source("destination.json"));
	destination.schemaConfig.profileFields = profileFields();
	destination.aggregation = aggregationConfig(aggregation);
	destination.destinationDelivery[0].destinationServerId = destinationServerId;
	return { destinationServer: server, destination };
}
