import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { PERMISSIONS, type RouteKey } from "../../src/api/permissions";
import mapping from "../fixtures/mapping.json";
import { adminJson, createDestination } from "../helpers/control";
import { callAs, createKey, type Caller } from "../helpers/keys";

/**
 * The route × role matrix (issue: "A test walks a route × role matrix: every admin route against every role,
 * the owner and no key"). It reads the same table the API's guard enforces (src/api/permissions.ts), and checks
 * that the table and the app's routes are the same list, so a new route cannot skip it.
 */

const CALLERS: Caller[] = ["none", "view", "activate", "manage", "owner"];
const RANK = { view: 0, activate: 1, manage: 2 } as const;

const tokens: Record<Exclude<Caller, "none">, string> = { owner: env.ADMIN_TOKEN, view: "", activate: "", manage: "" };

beforeAll(async () => {
	for (const role of ["view", "activate", "manage"] as const) tokens[role] = (await createKey(role, `matrix ${role}`)).key;
});

/** A valid request body for each route that takes one, so an allowed call reaches its handler. */
const bodies: Partial<Record<RouteKey, unknown>> = {
	"POST /destinations": { name: "Matrix destination" },
	"PATCH /destinations/:id": { name: "Renamed by the matrix", enabled: false },
	"PUT /destinations/:id/mapping": { ...mapping, segments: [{ segmentId: "matrix-segment", mappingId: 9 }] },
	"POST /destinations/:id/failures/replay": {},
	"PUT /destinations/:id/alerts": { webhookUrl: "https://hooks.slack.com/services/T000/B000/matrix", conditions: { connectionLost: true, failureRatePercent: null, pendingOlderThanMinutes: null } },
	"POST /destinations/:id/erasures": { prospectIds: ["42"] },
	"POST /keys": { name: "made by the matrix", role: "view" },
};

/** A fresh destination (with a mapping) for each call that may change it, so calls do not depend on each other. */
async function fixture(): Promise<{ destinationId: string; keyId: string }> {
	const d = await createDestination({ name: "Matrix fixture" });
	await adminJson(`/api/destinations/${d.id}/mapping`, { method: "PUT", json: mapping });
	const key = await createKey("view", "matrix fixture key");
	return { destinationId: d.id, keyId: key.id };
}

function pathOf(route: RouteKey, f: { destinationId: string; keyId: string }): { method: string; path: string } {
	const [method, pattern] = route.split(" ") as [string, string];
	const path = pattern
		.replace(":prospectId", "42")
		.replace(/^\/keys\/:id/, `/keys/${f.keyId}`)
		.replace(":id", f.destinationId);
	return { method, path: `/api${path}` };
}

/** Everything a forbidden call could have changed, read as the owner. */
async function world(f: { destinationId: string }) {
	const id = f.destinationId;
	const read = (p: string) => callAs(env.ADMIN_TOKEN, p).then(async (r) => `${r.status} ${await r.text()}`);
	return {
		destinations: await read("/api/destinations"),
		mapping: await read(`/api/destinations/${id}/mapping`),
		alerts: await read(`/api/destinations/${id}/alerts`),
		keys: (await adminJson<{ keys: { id: string; name: string; role: string }[] }>("/api/keys")).keys.map((k) => `${k.id}:${k.name}:${k.role}`),
		audit: await read("/api/audit?limit=5"),
	};
}

describe("the route × role table", () => {
	it("names exactly the admin API's routes: none is missing, none is stale", () => {
		const routes = new Set(
			app.routes
				.filter((r) => r.method !== "ALL" && r.path.startsWith("/api/"))
				.map((r) => `${r.method} ${r.path.replace(/^\/api/, "").replace(/\/$/, "")}`),
		);
		expect([...routes].sort()).toEqual(Object.keys(PERMISSIONS).sort());
	});

	it("mirrors AEP's permissions: view reads (but not the keys), activate edits mappings and replays, manage the rest", () => {
		for (const [route, { role }] of Object.entries(PERMISSIONS)) {
			if (route === "GET /keys") expect(role).toBe("manage");
			else if (route.startsWith("GET ")) expect(role, route).toBe("view");
		}
		expect(PERMISSIONS["PUT /destinations/:id/mapping"].role).toBe("activate");
		expect(PERMISSIONS["POST /destinations/:id/failures/replay"].role).toBe("activate");
		expect(PERMISSIONS["PATCH /destinations/:id"].role).toBe("activate");
		expect(PERMISSIONS["POST /destinations/:id/erasures"].role).toBe("manage");
		expect(PERMISSIONS["POST /destinations/:id/ingest-token"].role).toBe("manage");
	});
});

describe("every admin route × every caller", () => {
	for (const route of Object.keys(PERMISSIONS) as RouteKey[]) {
		const { role: needed, action } = PERMISSIONS[route];
		it(`${route} (${needed})`, async () => {
			const shared = await fixture();
			for (const caller of CALLERS) {
				const allowed = caller === "owner" || (caller !== "none" && RANK[caller] >= RANK[needed]);
				const f = allowed && !route.startsWith("GET ") ? await fixture() : shared;
				const { method, path } = pathOf(route, f);
				const before = allowed ? null : await world(f);
				const res = await callAs(caller === "none" ? null : tokens[caller], path, { method, json: bodies[route] });
				const text = await res.text();
				const label = `${caller} → ${method} ${path}: ${res.status} ${text}`;
				if (caller === "none") {
					expect(res.status, label).toBe(401);
					expect(JSON.parse(text).error.code, label).toBe("unauthorized");
				} else if (!allowed) {
					expect(res.status, label).toBe(403);
					expect(JSON.parse(text), label).toEqual({ error: { code: "forbidden", message: `${action} needs the ${needed} role` } });
				} else {
					// Allowed: the route's own answer (a 404 for the unknown prospect, a 409 where nothing waits), never a refusal.
					expect([401, 403, 500], label).not.toContain(res.status);
				}
				if (before) expect(await world(f), `a forbidden ${method} ${path} by ${caller} changed something`).toEqual(before);
			}
		});
	}
});
