import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { admin, createDestination } from "../helpers/control";

/**
 * Every string the admin API stores has a size limit, and so has every request body (1 MB → 413 in the
 * API's error envelope), so no admin call can make records, pages or answers grow without bound.
 */

type Problem = { path: string; message: string };
const MAPPING = { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }], segments: [{ segmentId: "s", mappingId: 4 }] };

async function problems(res: Response): Promise<Problem[]> {
	const text = await res.text();
	expect(res.status, text.slice(0, 300)).toBe(400);
	return (JSON.parse(text) as { error: { details: Problem[] } }).error.details;
}

function putMapping(id: string, body: unknown): Promise<Response> {
	return admin(`/api/destinations/${id}/mapping`, { method: "PUT", json: body });
}

describe("the admin API's size limits", () => {
	it("refuse a mapping's identity namespace, attribute path or segment name over 256 characters, naming the field", async () => {
		const { id } = await createDestination({ name: "Sizes" });
		const long = "a".repeat(257);
		for (const [body, path] of [
			[{ ...MAPPING, identityNamespace: long }, "identityNamespace"],
			[{ ...MAPPING, attributes: [{ source: long, target: "firstName" }] }, "attributes.0.source"],
			[{ ...MAPPING, segments: [{ segmentId: long, mappingId: 4 }] }, "segments.0.segmentId"],
			[{ ...MAPPING, segments: [{ segmentId: "s", mappingId: 4, name: long }] }, "segments.0.name"],
		] as const) {
			const list = await problems(await putMapping(id, body));
			expect(list.find((p) => p.path === path)?.message, path).toMatch(/at most 256 characters/);
		}
		// 256 is still fine.
		expect((await putMapping(id, { ...MAPPING, identityNamespace: "a".repeat(256) })).status).toBe(200);
	});

	it("refuse more than 150 segments or 100 attributes", async () => {
		const { id } = await createDestination({ name: "Counts" });
		const segments = Array.from({ length: 151 }, (_, i) => ({ segmentId: `s${i}`, mappingId: (i % 150) + 1 }));
		expect((await problems(await putMapping(id, { ...MAPPING, segments }))).find((p) => p.path === "segments")?.message).toMatch(/at most 150/);
		const attributes = Array.from({ length: 101 }, (_, i) => ({ source: `a.b${i}`, target: "firstName" }));
		expect((await problems(await putMapping(id, { ...MAPPING, attributes }))).find((p) => p.path === "attributes")?.message).toMatch(/at most 100/);
	});

	it("refuse a mapping over 64 KB, though each status word may have Outreach's 32,000 characters", async () => {
		const { id } = await createDestination({ name: "Big mapping" });
		const word = "w".repeat(32_000);
		const big = { ...MAPPING, statusValues: { realized: word, existing: word, exited: word } };
		const list = await problems(await putMapping(id, big));
		expect(list.map((p) => p.message).join(" ")).toMatch(/64 KB/);
		expect((await putMapping(id, { ...MAPPING, statusValues: { realized: word } })).status).toBe(200);
	});

	it("refuse replay ids over 256 characters", async () => {
		const { id } = await createDestination({ name: "Replay ids" });
		await putMapping(id, MAPPING);
		const res = await admin(`/api/destinations/${id}/failures/replay`, { method: "POST", json: { ids: ["x".repeat(257)] } });
		expect((await problems(res))[0]!.path).toBe("ids.0");
	});

	it("answer 413 in the error envelope to a body over 1 MB, declared or streamed", async () => {
		const { id } = await createDestination({ name: "Big body" });
		const huge = JSON.stringify({ ...MAPPING, identityNamespace: "n".repeat(1_100_000) });
		const declared = await putMapping(id, JSON.parse(huge));
		expect(declared.status).toBe(413);
		expect(await declared.json()).toEqual({ error: { code: "payload_too_large", message: expect.stringMatching(/1 MB/) } });

		// Without a Content-Length: counted while it streams.
		const bytes = new TextEncoder().encode(huge);
		const stream = new ReadableStream<Uint8Array>({
			start(controller) {
				for (let at = 0; at < bytes.length; at += 64 * 1024) controller.enqueue(bytes.subarray(at, at + 64 * 1024));
				controller.close();
			},
		});
		const streamed = await SELF.fetch(`http://localhost/api/destinations/${id}/mapping`, {
			method: "PUT",
			headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}`, "Content-Type": "application/json", "Transfer-Encoding": "chunked" },
			body: stream,
			// @ts-expect-error workerd needs to be told a streamed body is half-duplex
			duplex: "half",
		});
		expect(streamed.status).toBe(413);
		expect(((await streamed.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");

		const create = await admin("/api/destinations", { method: "POST", json: { name: "x", description: "d".repeat(1_100_000) } });
		expect(create.status).toBe(413);
	});
});
