import { beforeEach, describe, expect, it } from "vitest";
import { api, base, expectError, patchProspect, peek, reset, setFaults, signIn } from "./helpers.ts";

type Stats = { usage: { userId: number; windowStart: number; count: number }[] };

let token: string;

describe("local Outreach: injected faults", () => {
	beforeEach(async () => {
		await reset();
		token = (await signIn()).access_token;
	});

	it("answers the next N API calls with the injected status, then recovers", async () => {
		await setFaults({ status: 503, count: 3 });
		for (let i = 0; i < 3; i++) {
			const res = await patchProspect(token, 1, { firstName: `try ${i}` });
			const [error] = await expectError(res, 503, "scheduledServerMaintenance");
			expect(error!.title).toBe("Scheduled Server Maintenance");
			// Outreach gives a maintenance Retry-After as an ISO-8601 time.
			const retryAt = Date.parse(res.headers.get("Retry-After")!);
			expect(retryAt).toBeGreaterThan(Date.now() - 1000);
		}
		expect((await patchProspect(token, 1, { firstName: "done" })).status).toBe(200);
		expect(await peek("/__fake/prospects/1")).toMatchObject({ data: { attributes: { firstName: "done" } } });
	});

	it("injects other statuses too, one call by default", async () => {
		await setFaults({ status: 500 });
		await expectError(await api(token, "GET", "/users/me"), 500, "internalServerError");
		expect((await api(token, "GET", "/users/me")).status).toBe(200);
	});

	it("answers the status at random with the given probability, until cleared", async () => {
		await setFaults({ status: 503, probability: 0.2 });
		const statuses: number[] = [];
		for (let i = 0; i < 300; i++) statuses.push((await api(token, "GET", "/users/me")).status);
		const faults = statuses.filter((s) => s === 503).length;
		// 300 draws at 20 %: 60 expected; these bounds are more than four standard deviations out.
		expect(faults).toBeGreaterThan(30);
		expect(faults).toBeLessThan(95);
		expect(statuses.filter((s) => s !== 503).every((s) => s === 200)).toBe(true);
		// Injected faults count against the limit like any other answered call.
		expect((await peek<Stats>("/__fake/stats")).usage[0]!.count).toBe(300);
		await setFaults({});
		for (let i = 0; i < 20; i++) expect((await api(token, "GET", "/users/me")).status).toBe(200);
	});

	it("stops a random fault after `count` injections when a count is given", async () => {
		await setFaults({ status: 500, probability: 0.5, count: 3 });
		let faults = 0;
		for (let i = 0; i < 60; i++) if ((await api(token, "GET", "/users/me")).status === 500) faults++;
		expect(faults).toBe(3);
	});

	it("refuses a probability outside (0, 1] or without a status", async () => {
		for (const body of [{ status: 503, probability: 0 }, { status: 503, probability: 1.5 }, { probability: 0.2 }]) {
			const res = await fetch(`${base}/__fake/faults`, { method: "POST", body: JSON.stringify(body) });
			expect(res.status, JSON.stringify(body)).toBe(400);
		}
	});

	it("delays every API response by latencyMs", async () => {
		await setFaults({ latencyMs: 300 });
		for (const call of [() => api(token, "GET", "/users/me"), () => api(null, "GET", "/users/me")]) {
			const started = Date.now();
			await call();
			expect(Date.now() - started).toBeGreaterThanOrEqual(280);
		}
		// Control routes are not API calls: no delay.
		const started = Date.now();
		await peek("/__fake/stats");
		expect(Date.now() - started).toBeLessThan(250);
	});

	it("spendBudget spends the user's current window as another integration would", async () => {
		await reset({ rateLimit: { limit: 600, windowSeconds: 60 } });
		const { access_token } = await signIn();
		await setFaults({ spendBudget: { userId: 1, calls: 500 } });
		expect((await peek<Stats>("/__fake/stats")).usage).toEqual([{ userId: 1, windowStart: expect.any(Number), count: 500 }]);
		const res = await api(access_token, "GET", "/users/me");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("99");
		await setFaults({ spendBudget: { userId: 1, calls: 500 } }); // never past the limit
		expect((await peek<Stats>("/__fake/stats")).usage[0]!.count).toBe(600);
		await expectError(await api(access_token, "GET", "/users/me"), 429, "rateLimitExceeded");
	});

	it("each kind of fault replaces only its own kind; {} clears them all", async () => {
		await setFaults({ status: 503, count: 5 });
		await setFaults({ latencyMs: 200 });
		await setFaults({ status: 502, count: 1 });
		let started = Date.now();
		await expectError(await api(token, "GET", "/users/me"), 502, "badGateway");
		expect(Date.now() - started).toBeGreaterThanOrEqual(180);
		expect((await api(token, "GET", "/users/me")).status).toBe(200); // the 503s were replaced

		await setFaults({ status: 503, count: 5 });
		await setFaults({});
		started = Date.now();
		expect((await api(token, "GET", "/users/me")).status).toBe(200);
		expect(Date.now() - started).toBeLessThan(180);
	});

	it("refuses a malformed faults body with the problems", async () => {
		const res = await fetch(`${base}/__fake/faults`, { method: "POST", body: JSON.stringify({ status: 200, latencyMs: -1, bogus: 1 }) });
		expect(res.status).toBe(400);
		const body = (await res.json()) as { problems: { path: string; message: string }[] };
		expect(body.problems.map((p) => p.path).sort()).toEqual(["", "latencyMs", "status"]);
		const unknownUser = await fetch(`${base}/__fake/faults`, { method: "POST", body: JSON.stringify({ spendBudget: { userId: 9, calls: 1 } }) });
		expect(unknownUser.status).toBe(400);
	});
});
