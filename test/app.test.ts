import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

describe("the Worker", () => {
	it("answers /healthz with ok", async () => {
		const res = await SELF.fetch("http://localhost/healthz");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ ok: true });
	});

	it("answers unknown routes with the JSON error envelope", async () => {
		const res = await SELF.fetch("http://localhost/nope/nothing");
		expect(res.status).toBe(404);
		expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
	});
});
