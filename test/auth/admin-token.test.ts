import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { createDestination } from "../helpers/control";

/** Every admin route of the control plane, with a body where it needs one. */
const routes: [method: string, path: string][] = [
	["POST", "/api/destinations"],
	["GET", "/api/destinations"],
	["GET", "/api/destinations/ID"],
	["PATCH", "/api/destinations/ID"],
	["DELETE", "/api/destinations/ID"],
	["POST", "/api/destinations/ID/ingest-token"],
	["POST", "/api/destinations/ID/connect"],
	["DELETE", "/api/destinations/ID/connection"],
	["PUT", "/api/destinations/ID/mapping"],
	["GET", "/api/destinations/ID/mapping"],
	["POST", "/api/destinations/ID/mapping/verify"],
];

function request(method: string, path: string, authorization?: string): Request {
	const headers = new Headers({ "Content-Type": "application/json" });
	if (authorization !== undefined) headers.set("Authorization", authorization);
	return new Request(`http://localhost${path}`, { method, headers, ...(method === "GET" || method === "DELETE" ? {} : { body: "{}" }) });
}

describe("the admin API", () => {
	it.each(routes)("%s %s refuses a missing token with 401", async (method, path) => {
		const { id } = await createDestination();
		const res = await SELF.fetch(request(method, path.replace("ID", id)));
		expect(res.status).toBe(401);
		expect(await res.json()).toEqual({ error: { code: "unauthorized", message: expect.stringContaining("Authorization: Bearer <ADMIN_TOKEN>") } });
	});

	it.each([
		["a wrong token", `Bearer ${"x".repeat(44)}`],
		["the token with one character changed", `Bearer ${env.ADMIN_TOKEN.slice(0, -1)}X`],
		["a prefix of the token", `Bearer ${env.ADMIN_TOKEN.slice(0, 32)}`],
		["another scheme", `Basic ${btoa(`admin:${env.ADMIN_TOKEN}`)}`],
		["an empty bearer", "Bearer "],
	])("refuses %s with 401", async (_what, authorization) => {
		const res = await SELF.fetch(request("GET", "/api/destinations", authorization));
		expect(res.status).toBe(401);
	});

	it("accepts the admin token", async () => {
		const res = await SELF.fetch(request("GET", "/api/destinations", `Bearer ${env.ADMIN_TOKEN}`));
		expect(res.status).toBe(200);
	});

	it.each([
		["unset", undefined, /ADMIN_TOKEN is not set/],
		["empty", "", /ADMIN_TOKEN is not set/],
		["shorter than 32 characters", "short-admin-token-31-characters", /ADMIN_TOKEN is too short \(31 characters\); use at least 32/],
	])("refuses to work when ADMIN_TOKEN is %s (500, never fails open)", async (_what, value, message) => {
		const broken: Record<string, unknown> = { ...env };
		if (value === undefined) delete broken.ADMIN_TOKEN;
		else broken.ADMIN_TOKEN = value;
		// Even presenting the (short) configured value itself does not open the door.
		for (const authorization of [undefined, `Bearer ${value ?? ""}`, `Bearer ${env.ADMIN_TOKEN}`]) {
			const res = await app.fetch(request("GET", "/api/destinations", authorization), broken as unknown as Env);
			expect(res.status).toBe(500);
			expect(await res.json()).toEqual({ error: { code: "misconfigured", message: expect.stringMatching(message) } });
		}
	});

	it("does not guard the OAuth callback (Outreach's redirect carries no admin token)", async () => {
		const res = await SELF.fetch("http://localhost/oauth/callback?state=nope&code=nope", { headers: { Accept: "application/json" } });
		expect(res.status).toBe(400);
	});
});
