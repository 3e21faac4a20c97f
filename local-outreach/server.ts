import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { AddressInfo } from "node:net";
import { apiRoutes } from "./api.ts";
import { controlRoutes } from "./control.ts";
import { apiErrors } from "./errors.ts";
import { oauthRoutes } from "./oauth.ts";
import { createWorld, settingsSchema, stopAppliers, type Settings, type World } from "./state.ts";

// A faithful stand-in for api.outreach.io (OAuth, JSON:API prospects, Outreach's rate limit) with control
// routes under /__fake/* for tests and the benchmark. It runs in Node and is never bundled into the Worker.

/** The local Outreach as a Hono app; `defaults` override the built-in settings and are what an empty reset restores. */
export function createLocalOutreach(defaults: Settings = {}): Hono {
	return build(defaults).app;
}

/** The app and the World behind it (whose batch and import appliers a server must stop when it closes). */
function build(defaults: Settings): { app: Hono; world: World } {
	const world = createWorld(settingsSchema.parse(defaults));
	const app = new Hono();
	app.route("/oauth", oauthRoutes(world));
	app.route("/api/v2", apiRoutes(world));
	app.route("/__fake", controlRoutes(world));
	app.notFound((c) =>
		apiErrors(c, 404, [{ id: "resourceNotFound", title: "Resource Not Found", detail: `No route ${c.req.method} ${c.req.path}.` }]),
	);
	// A bug here must show up as an answer, not take the server (and every test using it) down.
	app.onError((err, c) => {
		console.error("local Outreach:", err);
		return apiErrors(c, 500, [{ id: "internalServerError", title: "Internal Server Error", detail: err.message }]);
	});
	return { app, world };
}

export type LocalOutreach = { url: string; port: number; close(): Promise<void> };

export type LocalOutreachOptions = Settings & { port?: number; host?: string };

/** Serves the local Outreach on 127.0.0.1 (port 0 = any free port); other options become its default settings. */
export async function startLocalOutreach(opts: LocalOutreachOptions = {}): Promise<LocalOutreach> {
	const { port = 8788, host = "127.0.0.1", ...defaults } = opts;
	const { app, world } = build(defaults);
	return new Promise((resolve, reject) => {
		const server = serve({ fetch: app.fetch, port, hostname: host }, (info: AddressInfo) => {
			resolve({
				url: `http://${host}:${info.port}`,
				port: info.port,
				close: () =>
					new Promise<void>((done) => {
						// A batch or import still applying must not write (or keep a timer) after the server is gone.
						stopAppliers(world);
						server.close(() => done());
						// Keep-alive sockets would hold close() open until they time out.
						if ("closeAllConnections" in server) server.closeAllConnections();
					}),
			});
		});
		server.once("error", reject);
		// However the server ends, no batch or import goes on applying behind it.
		server.once("close", () => stopAppliers(world));
	});
}
