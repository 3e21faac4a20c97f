import { beforeEach, describe, expect, it } from "vitest";
import { page, signInConsole } from "../console/helpers";
import { createConnectedDestination, createDestination, resetOutreach } from "../helpers/control";
import { activity, failures, ingest, putMapping, settled } from "../helpers/data";

/**
 * What the Worker echoes back — reject reasons in the ingest answer, "recent errors" on the Activity answer
 * and page — quotes at most about 200 characters of any input, and every stored error message (recent errors,
 * a failure's reason) is capped at 1,000 characters. Unbounded input must not grow an answer, a page, or a Durable Object row (over 2 MB a
 * row fails on Cloudflare).
 */

const MAPPING = { identityNamespace: "Oid", segments: [{ segmentId: "seg-1", mappingId: 4 }] };

/** A profile whose segment namespace is `size` characters long and whose mapped status is wrong: a reject that names the namespace. */
function hugeNamespaceProfile(size: number, id: number) {
	return { segmentMembership: { ["n".repeat(size)]: { "seg-1": { status: "not-a-status" } } }, identityMap: { Oid: [{ id: String(id) }] } };
}

beforeEach(async () => {
	await resetOutreach({ prospects: [4401] });
});

describe("echoed input", () => {
	it("is quoted to about 200 characters in reject reasons, recent errors and the Activity page", async () => {
		const d = await createDestination({ name: "Huge namespaces" });
		await putMapping(d.id, MAPPING);
		// Together just under INGEST_MAX_BYTES (256 KiB), which keeps any one row far from 2 MB in the first place.
		const body = JSON.stringify([hugeNamespaceProfile(60_000, 1), hugeNamespaceProfile(80_000, 2), hugeNamespaceProfile(110_000, 3)]);
		const res = await ingest(d.id, d.ingestToken, body);
		const text = await res.text();
		expect(res.status, text.slice(0, 300)).toBe(202);
		expect(text.length, "the ingest answer").toBeLessThan(5_000);
		const answer = JSON.parse(text) as { rejected: { index: number; error: string }[] };
		expect(answer.rejected.map((r) => r.index)).toEqual([0, 1, 2]);
		for (const r of answer.rejected) {
			expect(r.error.length).toBeLessThan(400);
			// Still says what was wrong and where.
			expect(r.error).toMatch(/^segmentMembership\.n{200}/);
			expect(r.error).toContain("status must be realized, existing or exited");
		}

		const raw = JSON.stringify(await activity(d.id));
		expect(raw.length, "the Activity answer").toBeLessThan(50_000);
		const { recentErrors } = JSON.parse(raw) as { recentErrors: { message: string }[] };
		expect(recentErrors.length).toBeGreaterThan(0);
		for (const e of recentErrors) expect(e.message.length).toBeLessThanOrEqual(1_000);

		const browser = await signInConsole();
		const { html } = await page(`/destinations/${d.id}/activity`, browser);
		expect(html.length, "the Activity page").toBeLessThan(200_000);
	});

	it("from Outreach is capped at 1,000 characters in recent errors, keeping how the message ends", async () => {
		// A picklist of 5,000 words: Outreach's 422 detail lists every one of them.
		const definition = Array.from({ length: 5_000 }, (_, i) => `Word-${i}`);
		await resetOutreach({ prospects: [4401], fieldRules: { custom4: { type: "inclusion", definition } } });
		const d = await createConnectedDestination({ name: "Long detail" });
		await putMapping(d.id, { ...MAPPING, statusValues: { realized: "Not-in-the-list" } });
		const res = await ingest(d.id, d.ingestToken, JSON.stringify({ segmentMembership: { ups: { "seg-1": { status: "realized" } } }, identityMap: { Oid: [{ id: "4401" }] } }));
		expect(res.status).toBe(202);
		const done = await settled(d.id);
		expect(done.totals.failed).toBe(1);
		const message = done.recentErrors[0]!.message;
		expect(message.length).toBeLessThanOrEqual(1_000);
		expect(message).toContain("Word-0");
		expect(message).toMatch(/Mapping ID 4/);
		const [failure] = await failures(d.id);
		expect(failure!.reason.length).toBeLessThanOrEqual(1_000);
		expect(failure!.reason).toMatch(/Mapping ID 4/);
	});
});
