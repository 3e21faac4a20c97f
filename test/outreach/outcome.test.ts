import { describe, expect, it } from "vitest";
import type { OutreachResponse } from "../../src/outreach/api";
import { BAD_REQUEST_MESSAGE, classify } from "../../src/outreach/outcome";

function answer(status: number, errors: OutreachResponse["errors"] = [], rate: OutreachResponse["rate"] = {}): OutreachResponse {
	return { status, errors, rate };
}

describe("classifying Outreach's answer to a prospect PATCH", () => {
	it("2xx is delivered", () => {
		expect(classify(answer(200)).kind).toBe("delivered");
	});

	it("401 asks for one refresh through the gate", () => {
		expect(classify(answer(401)).kind).toBe("refresh");
	});

	it("403 unauthorizedOauthScope loses the connection (reconnect required), 403 unauthorizedRequest fails the update", () => {
		expect(classify(answer(403, [{ id: "unauthorizedOauthScope", title: "Unauthorized OAuth Scope" }])).kind).toBe("connection_lost");
		expect(classify(answer(403, [{ id: "unauthorizedRequest", title: "Unauthorized Request" }])).kind).toBe("failed");
	});

	it("404 fails the update with Outreach's own words", () => {
		const o = classify(answer(404, [{ id: "resourceNotFound", title: "Resource Not Found", detail: "Could not find 'prospect' with ID '9'." }]));
		expect(o).toEqual({ kind: "failed", reason: expect.stringContaining("Could not find 'prospect' with ID '9'.") });
	});

	it("422 on a custom field names the Mapping ID with the seed's message", () => {
		const o = classify(answer(422, [{ id: "validationError", detail: "custom4 is not included in the list", source: { pointer: "/data/attributes/custom4" } }]));
		expect(o).toMatchObject({ kind: "field_invalid", field: "custom4" });
		if (o.kind !== "field_invalid") throw new Error("unreachable");
		expect(o.reason).toContain(BAD_REQUEST_MESSAGE);
		expect(o.reason).toContain("custom4 is not included in the list");
		expect(o.reason).toContain("Mapping ID 4");
	});

	it("422 on an ordinary attribute names the attribute; without a pointer the update fails", () => {
		expect(classify(answer(422, [{ detail: "too long", source: { pointer: "/data/attributes/firstName" } }]))).toMatchObject({ kind: "field_invalid", field: "firstName" });
		expect(classify(answer(422, [{ detail: "type mismatch", source: { pointer: "/data/type" } }])).kind).toBe("failed");
	});

	it("429 pauses until the reset it gives (or a minute when it gives none)", () => {
		expect(classify(answer(429, [], { resetAt: 123_000 }), 0)).toEqual({ kind: "rate_limited", until: 123_000 });
		expect(classify(answer(429), 1_000)).toEqual({ kind: "rate_limited", until: 61_000 });
	});

	it("5xx, 408 and no answer at all are transient", () => {
		for (const s of [500, 502, 503, 504, 408, 0]) expect(classify(answer(s)).kind).toBe("transient");
	});

	it("a 503 with Retry-After (scheduled maintenance) says not to come back before then", () => {
		expect(classify({ ...answer(503), retryAfter: 99_000 })).toMatchObject({ kind: "transient", retryAt: 99_000 });
	});
});
