import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditWrites, rankOfAttribute, rankOfSegment, type Version } from "../../scripts/bench/audit.ts";
import { adminClient, outreachControl, sleep, type Admin, type OutreachControl } from "../../scripts/bench/http.ts";
import { connect, REP } from "../../scripts/bench/ours.ts";
import { freePort, generateDevVars, projectRoot, scratchStack, type Stack } from "../../scripts/stack.ts";

/**
 * Issue 20's acceptance on the stack `npm start` runs (the Worker under `wrangler dev`, the local Outreach),
 * started here on free ports with its state in a temporary folder: a file of profiles in AEP's sample-profile
 * format, full of tricky strings, is rendered by `npm run aep -- render` (the CLI itself, as a child process)
 * and POSTed to `/ingest/:id` with the destination's token, with nothing mapped in our console. Checked on what
 * the local Outreach holds: the status word in custom<alias>, every attribute byte-for-byte, and no stale write
 * in the order the writes landed (`GET /__fake/writes`).
 *
 * One stack for the file: starting it is most of the file's time (about 7 s of the 12–15 s measured on 2
 * shared cores).
 */

const PROFILES = "test/fixtures/aep/sample-profiles-tricky.json";
const SEG_A = "2a7c9e4b-1d3f-4e5a-8b6c-7d8e9f0a1b2c";
const SEG_B = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";

type SampleProfile = {
	segmentMembership: Record<string, Record<string, { lastQualificationTime?: string; status: string }>>;
	identityMap: Record<string, { id: string }[]>;
	attributes: Record<string, { value?: string }>;
};
const profiles = JSON.parse(readFileSync(new URL(`../../${PROFILES}`, import.meta.url), "utf8")) as SampleProfile[];
/** The profiles with a usable OutreachId, by prospect id: the rest are rejected by ingest. */
const landing = profiles.flatMap((p, index) => {
	const id = Number(p.identityMap.OutreachId?.[0]?.id);
	return Number.isSafeInteger(id) && id > 0 ? [{ index, prospectId: id, profile: p }] : [];
});

type Totals = { received: number; rejected: number; pending: number; delivered: number; failed: number };
type IngestAnswer = { accepted: number; rejected: { index: number; error: string }[] };

let scratch: Awaited<ReturnType<typeof scratchStack>> | undefined;
let stack: Stack;
let admin: Admin;
let outreach: OutreachControl;
let destination: { id: string; ingestToken: string };
/** Every version sent, ranked by the ordering contract, for the write audit. */
const versions: Version[] = [];
let received = 0;

const render = promisify(execFile);
async function renderBody(segment: string, status: "realized" | "exited", alias: number): Promise<string> {
	const { stdout } = await render(process.execPath, ["scripts/aep.ts", "render", "--profiles", PROFILES, "--segment", segment, "--status", status, "--alias", String(alias)], {
		cwd: projectRoot,
		encoding: "utf8",
	});
	return stdout;
}

/** POSTs the body as AEP does, records the versions it carries, and waits until the destination has delivered them. */
async function deliver(body: string, key: { segment: string; status: string; alias: number }): Promise<IngestAnswer> {
	const sentAt = Date.now();
	const res = await fetch(`${stack.workerUrl}/ingest/${destination.id}`, {
		method: "POST",
		headers: { Authorization: `Bearer ${destination.ingestToken}`, "Content-Type": "application/json" },
		body,
	});
	const text = await res.text();
	expect(res.status, text).toBe(202);
	const answer = JSON.parse(text) as IngestAnswer;
	received += profiles.length;
	for (const { index, prospectId, profile } of landing) {
		const qualified = profile.segmentMembership.ups?.[key.segment]?.lastQualificationTime;
		const at = { observedAt: sentAt, position: index };
		versions.push({ prospectId, field: `custom${key.alias}`, value: key.status, rank: rankOfSegment({ ...at, ...(qualified ? { qualifiedAt: Date.parse(qualified) } : {}) }), arrivedAt: sentAt });
		for (const [field, wrapper] of Object.entries(profile.attributes))
			if (wrapper.value !== undefined) versions.push({ prospectId, field, value: wrapper.value, rank: rankOfAttribute(at), arrivedAt: sentAt });
	}
	// Waiting on the product's own counts, not on time: a deadline only turns a hang into a failure that says why.
	const deadline = Date.now() + 90_000;
	for (;;) {
		const { totals } = await admin<{ totals: Totals }>("GET", `/api/destinations/${destination.id}/activity`);
		if (totals.pending === 0 && totals.received >= received) return answer;
		if (Date.now() > deadline) throw new Error(`not delivered: ${JSON.stringify(totals)}\n--- stack output ---\n${stack.output().slice(-3000)}`);
		await sleep(250);
	}
}

async function expectLanded(alias: number, status: string): Promise<void> {
	for (const { prospectId, profile } of landing) {
		const held = await outreach.prospect(prospectId);
		expect(held[`custom${alias}`], `prospect ${prospectId} custom${alias}`).toBe(status);
		for (const [field, wrapper] of Object.entries(profile.attributes)) {
			// toBe on strings is code-unit equality: the same UTF-8 bytes, NUL, lone combining marks and all.
			if (wrapper.value === undefined) expect(held[field], `prospect ${prospectId} ${field}: AEP sent {} (not mapped or absent), so nothing is written`).toBeUndefined();
			else expect(held[field], `prospect ${prospectId} ${field}`).toBe(wrapper.value);
		}
	}
}

beforeAll(async () => {
	const [workerPort, outreachPort] = [await freePort(), await freePort()];
	scratch = await scratchStack({ name: "aep-landing", workerPort, log: (line) => console.error(line) });
	const vars = generateDevVars(`http://127.0.0.1:${outreachPort}`);
	stack = await scratch.start({ outreachPort, vars });
	admin = adminClient(stack.workerUrl, vars.ADMIN_TOKEN!);
	outreach = outreachControl(stack.outreachUrl);
	destination = await admin("POST", "/api/destinations", { name: "AEP package, end to end", description: "test/aep/landing-on-npm-start.node.test.ts" }, 201);
	await connect(admin, destination.id, REP);
}, 180_000);

// Stops both processes and removes the state folder and the private env file, whether the tests passed or not
// (startStack also kills them if this process exits first).
afterAll(async () => {
	await scratch?.stop();
}, 30_000);

describe("a profile file rendered by `npm run aep -- render`, POSTed to the running stack with nothing mapped in the console", () => {
	it("has no console mapping to start from", async () => {
		const none = await admin<{ error: { message: string } }>("GET", `/api/destinations/${destination.id}/mapping`, undefined, 404);
		expect(none.error.message).toMatch(/has no mapping yet/);
	});

	it("realized: the status lands in custom<alias>, every attribute byte-for-byte; the profile without an OutreachId is rejected and counted", async () => {
		const answer = await deliver(await renderBody(SEG_A, "realized", 4), { segment: SEG_A, status: "realized", alias: 4 });
		expect(answer.accepted).toBe(landing.length);
		expect(answer.rejected).toEqual([{ index: 2, error: expect.stringMatching(/no 'OutreachId' identity/) }]);
		await expectLanded(4, "realized");
	});

	it("exited: the status lands in custom<alias>, every attribute byte-for-byte", async () => {
		const answer = await deliver(await renderBody(SEG_B, "exited", 7), { segment: SEG_B, status: "exited", alias: 7 });
		expect(answer.accepted).toBe(landing.length);
		await expectLanded(7, "exited");
		// The earlier audience's field is untouched by another audience's request.
		for (const { prospectId } of landing) expect((await outreach.prospect(prospectId)).custom4).toBe("realized");
	});

	it("exited after realized in the same audience: custom<alias> ends exited", async () => {
		await deliver(await renderBody(SEG_A, "exited", 4), { segment: SEG_A, status: "exited", alias: 4 });
		await expectLanded(4, "exited");
	});

	it("writes nothing stale: in the order the writes landed, no field goes back to an older version", async () => {
		const ours = new Set(landing.map((l) => l.prospectId));
		const writes = (await outreach.writes()).filter((w) => ours.has(w.prospectId));
		const { stale, unknown } = auditWrites(versions, writes);
		expect(stale, "writes that set a field back to an older version").toEqual([]);
		expect(unknown, "writes of a value no ingested version had by then").toEqual([]);
		// The audit had something to judge: custom4 went realized, then exited, for each prospect (a retried
		// PATCH may repeat a value, so repeats in a row count once).
		for (const id of ours) {
			const values = writes.filter((w) => w.prospectId === id && w.field === "custom4").map((w) => w.value);
			expect(values.filter((v, i) => v !== values[i - 1]), `prospect ${id} custom4`).toEqual(["realized", "exited"]);
		}
	});
});

// The stack this file runs is a measuring one (scripts/stack.ts, scratchStack): what it measures is the Worker, so
// wrangler's local trace collector, which shares the Worker's process and cores, is off.
describe("the measuring stack", () => {
	it("runs without wrangler's local trace collector: after the requests above, its state holds no traces", () => {
		expect(received, "the stack handled requests to trace").toBeGreaterThan(0);
		expect(existsSync(join(scratch!.stateDir, "v3/do")), "the state folder is the one wrangler wrote").toBe(true);
		expect(existsSync(join(scratch!.stateDir, "v3/observability")), "wrangler's local traces").toBe(false);
	});
});
