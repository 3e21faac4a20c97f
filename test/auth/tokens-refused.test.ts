import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "../../src/api/index";
import { adminJson, createDestination, type CreatedDestination } from "../helpers/control";
import { activity, putMapping } from "../helpers/data";

/**
 * Every admin route — enumerated from the admin API's own router, so a route added later is covered too — and
 * the ingest route refuse a missing token, a wrong one, and a token that belongs to something else (a
 * destination's ingest token is not an admin token; one destination's ingest token does not open another).
 * A refused request changes nothing.
 */

const adminRoutes = [...new Map(api.routes.filter((r) => r.method !== "ALL").map((r) => [`${r.method} ${r.path}`, r])).values()].map((r) => ({
	method: r.method,
	path: `/api${r.path}`,
}));

let a: CreatedDestination;
let b: CreatedDestination;
const MAPPING = { identityNamespace: "Oid", segments: [{ segmentId: "sec-segment", mappingId: 4 }] };

beforeAll(async () => {
	a = await createDestination({ name: "A" });
	b = await createDestination({ name: "B" });
	await putMapping(a.id, MAPPING);
	await putMapping(b.id, MAPPING);
});

let requests = 0;

function request(method: string, path: string, authorization: string | undefined): Promise<Response> {
	// Each from its own address: this file asks which tokens open which door, so the throttle of repeated wrong
	// tokens from one address (429, test/auth/throttle.test.ts) must not answer instead.
	const headers = new Headers({ "Content-Type": "application/json", "CF-Connecting-IP": `198.51.100.${requests++ % 250}` });
	if (authorization !== undefined) headers.set("Authorization", authorization);
	const body = ["GET", "HEAD", "DELETE"].includes(method) ? undefined : method === "PUT" ? JSON.stringify(MAPPING) : "{}";
	return SELF.fetch(`http://localhost${path}`, { method, headers, body, redirect: "manual" });
}

const wrongAdmin = () => [
	["no Authorization header", undefined],
	["a wrong bearer token", `Bearer ${"w".repeat(43)}`],
	["the admin token with a character changed", `Bearer ${env.ADMIN_TOKEN.slice(0, -1)}${env.ADMIN_TOKEN.endsWith("x") ? "y" : "x"}`],
	["destination A's ingest token", `Bearer ${a.ingestToken}`],
	["destination B's ingest token", `Bearer ${b.ingestToken}`],
	["the admin token as a query parameter instead of a header", undefined],
] as const;

describe("the admin API refuses anything but the admin token", () => {
	it("knows every admin route (enumerated from its router)", () => {
		const listed = adminRoutes.map((r) => `${r.method} ${r.path}`);
		for (const expected of [
			"POST /api/destinations",
			"GET /api/destinations/:id",
			"DELETE /api/destinations/:id",
			"PUT /api/destinations/:id/mapping",
			"GET /api/destinations/:id/activity",
			"POST /api/destinations/:id/failures/replay",
			"GET /api/metrics",
		])
			expect(listed).toContain(expected);
	});

	it("answers 401 on every admin route to a missing, wrong or non-admin token, and changes nothing", async () => {
		const refused: string[] = [];
		for (const route of adminRoutes) {
			for (const [what, authorization] of wrongAdmin()) {
				const path = route.path.replace(/:id\b/g, a.id).replace(/\/$/, "");
				const url = what.includes("query parameter") ? `${path}?token=${encodeURIComponent(env.ADMIN_TOKEN)}` : path;
				const res = await request(route.method, url, authorization);
				const body = await res.text();
				if (res.status !== 401) refused.push(`${route.method} ${route.path} with ${what}: ${res.status} ${body.slice(0, 120)}`);
				else expect(JSON.parse(body)).toMatchObject({ error: { code: "unauthorized" } });
			}
		}
		expect(refused).toEqual([]);
		// Nothing was deleted, rotated, disconnected or re-mapped by the refused calls.
		const still = await adminJson<{ name: string }>(`/api/destinations/${a.id}`);
		expect(still.name).toBe("A");
		expect(await adminJson(`/api/destinations/${a.id}/mapping`)).toMatchObject(MAPPING);
		const ingest = await SELF.fetch(`http://localhost/ingest/${a.id}`, { method: "POST", headers: { Authorization: `Bearer ${a.ingestToken}` }, body: "[]" });
		expect(ingest.status, "A's ingest token was not rotated").toBe(202);
	});
});

describe("the ingest route refuses anything but the destination's own token", () => {
	const profile = { segmentMembership: { ups: { "sec-segment": { status: "realized" } } }, identityMap: { Oid: [{ id: "1" }] } };
	const post = (destinationId: string, authorization: string | undefined) =>
		SELF.fetch(`http://localhost/ingest/${destinationId}`, {
			method: "POST",
			headers: authorization === undefined ? {} : { Authorization: authorization },
			body: JSON.stringify([profile]),
		});

	it("answers the same 401 to a missing, wrong, other destination's or admin token, and records nothing", async () => {
		const answers: { what: string; status: number; body: string }[] = [];
		for (const [what, destinationId, authorization] of [
			["no Authorization header", a.id, undefined],
			["a wrong token", a.id, `Bearer ${"w".repeat(43)}`],
			["destination B's token on A", a.id, `Bearer ${b.ingestToken}`],
			["destination A's token on B", b.id, `Bearer ${a.ingestToken}`],
			["the admin token", a.id, `Bearer ${env.ADMIN_TOKEN}`],
			["A's token with another scheme", a.id, `Basic ${a.ingestToken}`],
			["A's token on a destination that does not exist", "no-such-destination", `Bearer ${a.ingestToken}`],
		] as const) {
			const res = await post(destinationId, authorization);
			answers.push({ what, status: res.status, body: await res.text() });
		}
		for (const answer of answers) expect(answer.status, answer.what).toBe(401);
		// One answer for all: it never tells which destinations exist or which part was wrong.
		expect(new Set(answers.map((x) => x.body)).size).toBe(1);
		expect((await activity(a.id)).totals.received).toBe(0);
		expect((await activity(b.id)).totals.received).toBe(0);
	});

	it("accepts the destination's own token", async () => {
		const res = await post(b.id, `Bearer ${b.ingestToken}`);
		expect(res.status).toBe(202);
		expect((await activity(b.id)).totals.received).toBe(1);
	});
});
