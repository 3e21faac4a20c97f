import { describe, expect, it } from "vitest";
import { admin, adminJson, createDestination } from "../helpers/control";

type Problem = { path: string; message: string };

describe("GET|PUT /api/destinations/:id/alerts", () => {
	it("answers everything off before anything is configured", async () => {
		const { id } = await createDestination();
		expect(await adminJson(`/api/destinations/${id}/alerts`)).toEqual({
			webhookUrl: null,
			conditions: { connectionLost: false, failureRatePercent: null, pendingOlderThanMinutes: null },
			state: {},
		});
	});

	it("stores a webhook and conditions and answers them back", async () => {
		const { id } = await createDestination();
		const body = { webhookUrl: "https://hooks.slack.com/services/T0/B0/x", conditions: { connectionLost: true, failureRatePercent: 5, pendingOlderThanMinutes: 30 } };
		expect(await adminJson(`/api/destinations/${id}/alerts`, { method: "PUT", json: body })).toEqual(body);
		expect(await adminJson(`/api/destinations/${id}/alerts`)).toMatchObject(body);
	});

	it("accepts http only for localhost and 127.0.0.1", async () => {
		const { id } = await createDestination();
		for (const webhookUrl of ["http://localhost:9999/hook", "http://127.0.0.1:9999/hook"]) {
			await adminJson(`/api/destinations/${id}/alerts`, { method: "PUT", json: { webhookUrl, conditions: { connectionLost: true } } });
		}
	});

	it("answers 400 listing every problem with its path", async () => {
		const { id } = await createDestination();
		const res = await admin(`/api/destinations/${id}/alerts`, {
			method: "PUT",
			json: { webhookUrl: "http://hooks.example.com/x", conditions: { connectionLost: "yes", failureRatePercent: 0, pendingOlderThanMinutes: 2.5, extra: 1 } },
		});
		expect(res.status).toBe(400);
		const { error } = (await res.json()) as { error: { code: string; details: Problem[] } };
		expect(error.code).toBe("bad_request");
		expect(error.details.map((p) => p.path).sort()).toEqual(
			["conditions.connectionLost", "conditions.extra", "conditions.failureRatePercent", "conditions.pendingOlderThanMinutes", "webhookUrl"].sort(),
		);
		expect(error.details.find((p) => p.path === "webhookUrl")?.message).toContain("https");
	});

	it("needs a webhook while a condition is on", async () => {
		const { id } = await createDestination();
		const res = await admin(`/api/destinations/${id}/alerts`, { method: "PUT", json: { webhookUrl: null, conditions: { connectionLost: true } } });
		expect(res.status).toBe(400);
		expect(JSON.stringify(await res.json())).toContain('"path":"webhookUrl"');
	});

	it("answers 404 for an unknown destination", async () => {
		expect((await admin("/api/destinations/nope/alerts")).status).toBe(404);
		expect((await admin("/api/destinations/nope/alerts", { method: "PUT", json: { webhookUrl: null } })).status).toBe(404);
	});

	it("needs the admin token", async () => {
		const { id } = await createDestination();
		expect((await admin(`/api/destinations/${id}/alerts`, { headers: { Authorization: "Bearer nope" } })).status).toBe(401);
	});
});
