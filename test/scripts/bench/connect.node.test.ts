import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalOutreach, type LocalOutreach } from "../../../local-outreach/server.ts";
import { adminClient } from "../../../scripts/bench/http.ts";
import { connect, REP } from "../../../scripts/bench/ours.ts";

/**
 * The benchmark connects ours through the OAuth sign-in and must cope with both callback contracts: the one
 * that connects at once (`connected: true`) and the one where a flow started through the API waits for an
 * admin's confirmation (`confirmation_required`, then `POST …/connection/confirm`). A stand-in Worker plays
 * the callback; the local Outreach plays Outreach.
 */
describe("the benchmark's connect flow", () => {
	let outreach: LocalOutreach;
	let worker: { url: string; close: () => void };
	let mode: "direct" | "confirm" = "direct";
	let status = "not_connected";
	const calls: string[] = [];

	beforeAll(async () => {
		outreach = await startLocalOutreach({ port: 0 });
		const app = new Hono();
		app.use("*", async (c, next) => {
			calls.push(`${c.req.method} ${c.req.path}`);
			await next();
		});
		app.post("/api/destinations/:id/connect", (c) => {
			const url = new URL(`${outreach.url}/oauth/authorize`);
			for (const [k, v] of Object.entries({ client_id: "local-client", redirect_uri: `${worker.url}/oauth/callback`, response_type: "code", scope: "users.read", state: "s1" }))
				url.searchParams.set(k, v);
			return c.json({ authorizeUrl: url.href });
		});
		app.get("/oauth/callback", (c) => {
			if (!c.req.query("code")) return c.json({ error: "no code" }, 400);
			if (mode === "direct") {
				status = "connected";
				return c.json({ connected: true, destination: { status } });
			}
			status = "confirmation_required";
			return c.json({ connected: false, destination: { status, pendingOutreachUser: { id: REP.id, email: REP.email } } });
		});
		app.post("/api/destinations/:id/connection/confirm", (c) => {
			status = "connected";
			return c.json({ status });
		});
		app.get("/api/destinations/:id", (c) => c.json({ id: c.req.param("id"), status }));
		worker = await new Promise((resolve) => {
			const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) =>
				resolve({ url: `http://127.0.0.1:${info.port}`, close: () => server.close() }),
			);
		});
	});
	afterAll(async () => {
		worker?.close();
		await outreach?.close();
	});

	it("takes a callback that connects at once", async () => {
		mode = "direct";
		calls.length = 0;
		await connect(adminClient(worker.url, "t"), "d1", REP);
		expect(calls).toEqual(["POST /api/destinations/d1/connect", "GET /oauth/callback", "GET /api/destinations/d1"]);
	});

	it("confirms a flow that waits for an admin", async () => {
		mode = "confirm";
		calls.length = 0;
		await connect(adminClient(worker.url, "t"), "d2", REP);
		expect(calls).toEqual(["POST /api/destinations/d2/connect", "GET /oauth/callback", "POST /api/destinations/d2/connection/confirm", "GET /api/destinations/d2"]);
	});
});
