import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mappableAttributes } from "../../src/outreach/attributes.ts";
import { BATCH } from "../../scripts/aep/package.ts";

const out = mkdtempSync(join(tmpdir(), "aep-build-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function build(aggregation: string) {
	const dir = join(out, aggregation);
	execFileSync(process.execPath, ["scripts/aep.ts", "build", "--out", dir, "--aggregation", aggregation], { encoding: "utf8" });
	const read = (f: string) => JSON.parse(readFileSync(join(dir, f), "utf8"));
	return { server: read("destination-server.json"), destination: read("destination.json") };
}

describe("npm run aep -- build", () => {
	const { server, destination } = build("configurable");

	it("writes a URL-based destination server whose URL is the customer's ingest URL and whose JSON body is a PEBBLE_V1 template, inlined", () => {
		expect(server.destinationServerType).toBe("URL_BASED");
		expect(server.urlBasedDestination.url).toEqual({ templatingStrategy: "PEBBLE_V1", value: "{{customerData.ingestUrl}}" });
		expect(server.httpTemplate.httpMethod).toBe("POST");
		expect(server.httpTemplate.contentType).toBe("application/json");
		expect(server.httpTemplate.requestBody.templatingStrategy).toBe("PEBBLE_V1");
		expect(server.httpTemplate.requestBody.value).toContain('{"format":"aep-outreach/1"');
		expect(server.httpTemplate.requestBody.value).not.toMatch(/@@|\{#/);
		expect(destination.customerDataFields.find((f: { name: string }) => f.name === "ingestUrl")).toMatchObject({ isRequired: true, type: "string" });
	});

	it("authenticates with the customer's bearer token and delivers by CUSTOMER_AUTHENTICATION", () => {
		expect(destination.customerAuthenticationConfigurations).toEqual([{ authType: "BEARER" }]);
		expect(destination.destinationDelivery).toEqual([{ authenticationRule: "CUSTOMER_AUTHENTICATION", destinationServerId: "@@DESTINATION_SERVER_ID@@" }]);
	});

	it("requires the OutreachId identity namespace", () => {
		expect(Object.keys(destination.identityNamespaces)).toEqual(["OutreachId"]);
		expect(destination.schemaConfig.identityRequired).toBe(true);
		expect(destination.schemaConfig.segmentRequired).toBe(true);
	});

	it("offers as target fields exactly the product's mappable Outreach attributes", () => {
		expect(destination.schemaConfig.profileFields.map((f: { name: string }) => f.name)).toEqual([...mappableAttributes]);
		expect(destination.schemaConfig.profileFields.some((f: { name: string }) => /^custom\d+$/.test(f.name))).toBe(false);
	});

	it("asks for the Mapping ID in the scheduling step", () => {
		expect(destination.segmentMappingConfig.mapUserInput).toBe(true);
	});

	it("aggregates by segment id and status, in batches within AEP's bounds", () => {
		expect(destination.aggregation.aggregationType).toBe("CONFIGURABLE_AGGREGATION");
		const c = destination.aggregation.configurableAggregation;
		expect(c.aggregationKey).toMatchObject({ includeSegmentId: true, includeSegmentStatus: true });
		expect(c.maxBatchAgeInSecs).toBe(BATCH.maxBatchAgeInSecs);
		expect(c.maxBatchAgeInSecs).toBeGreaterThanOrEqual(301);
		expect(c.maxBatchAgeInSecs).toBeLessThanOrEqual(3600);
		expect(c.maxNumEventsInBatch).toBeGreaterThanOrEqual(1000);
		expect(c.maxNumEventsInBatch).toBeLessThanOrEqual(10000);
	});

	it("builds the best-effort variant with at most 10 profiles a request", () => {
		const be = build("best-effort");
		expect(be.destination.aggregation).toEqual({ aggregationType: "BEST_EFFORT", bestEffortAggregation: { maxUsersPerRequest: 10, splitUserById: false } });
		expect(be.server.httpTemplate.requestBody.value).toContain("input.profile is not null");
	});
});
