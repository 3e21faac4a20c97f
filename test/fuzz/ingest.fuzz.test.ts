import { env, SELF } from "cloudflare:test";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, createDestination, type CreatedDestination } from "../helpers/control";
import { activity, expectCountsAddUp, putMapping } from "../helpers/data";
import { fuzzRuns } from "../suite-size";
import { body, FUZZ_MAPPING, profilesIn } from "./bodies";

/**
 * POST /ingest/:id with generated bodies (1,000 in `npm test`, 10,000 in `npm run test:fuzz`): never a 5xx,
 * never an uncaught exception; a 400 only for a body that is not JSON, an array or NDJSON at all; otherwise
 * 202 where accepted + skipped + rejected equals the profiles the body holds and every reject names its index
 * and a reason. Afterwards the destination's counts add up.
 *
 * The destination is not connected, so accepted updates wait in the queue instead of calling Outreach.
 */

let d: CreatedDestination;
let profilesAnswered = 0;

beforeAll(async () => {
	d = await createDestination({ name: "Fuzzed ingest" });
	await putMapping(d.id, FUZZ_MAPPING);
});

afterAll(async () => {
	// Deleting it lets the queue drop the held updates instead of holding them for the next file.
	await admin(`/api/destinations/${d.id}`, { method: "DELETE" });
});

type Answer = { accepted: number; skipped: number; rejected: { index: number; error: string }[] };

describe("fuzzing POST /ingest/:destinationId", () => {
	it("answers every generated body without a 5xx, accounting for each profile it holds", { timeout: 600_000 }, async () => {
		await fc.assert(
			fc.asyncProperty(body, async ({ text, contentType }) => {
				const res = await SELF.fetch(`http://localhost/ingest/${d.id}`, {
					method: "POST",
					headers: { Authorization: `Bearer ${d.ingestToken}`, ...(contentType ? { "Content-Type": contentType } : {}) },
					body: text,
				});
				const answer = await res.text();
				expect(res.status, answer.slice(0, 300)).toBeLessThan(500);
				const bytes = new TextEncoder().encode(text);
				if (bytes.length > Number(env.INGEST_MAX_BYTES)) {
					expect(res.status, answer.slice(0, 300)).toBe(413);
					expect((JSON.parse(answer) as { error: { code: string } }).error.code).toBe("payload_too_large");
					return;
				}
				// What the Worker reads is the body's UTF-8 (lone surrogates become U+FFFD on the way).
				const expected = profilesIn(new TextDecoder().decode(bytes));
				if (expected === null) {
					expect(res.status, answer.slice(0, 300)).toBe(400);
					const err = JSON.parse(answer) as { error: { code: string; message: string } };
					expect(err.error.code).toBe("bad_request");
					expect(err.error.message.length).toBeGreaterThan(10);
					return;
				}
				expect(res.status, answer.slice(0, 300)).toBe(202);
				const a = JSON.parse(answer) as Answer;
				expect(a.accepted + a.skipped + a.rejected.length).toBe(expected);
				const indexes = a.rejected.map((r) => r.index);
				expect(new Set(indexes).size).toBe(indexes.length);
				for (const r of a.rejected) {
					expect(Number.isInteger(r.index) && r.index >= 0 && r.index < expected, `index ${r.index}`).toBe(true);
					expect(typeof r.error === "string" && r.error.trim().length > 0, `reason of #${r.index}`).toBe(true);
				}
				profilesAnswered += expected;
			}),
			{ numRuns: fuzzRuns() },
		);
		const totals = (await activity(d.id)).totals;
		expect(totals.received).toBe(profilesAnswered);
		expectCountsAddUp(totals);
	});
});
