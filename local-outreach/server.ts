import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { AddressInfo } from "node:net";

/** Skeleton; the full local Outreach replaces this app. */
export function createLocalOutreach(): Hono {
	const app = new Hono();
	app.post("/__fake/reset", (c) => c.json({ ok: true }));
	return app;
}

export type LocalOutreach = { url: string; port: number; close(): Promise<void> };

/** Serves the local Outreach on 127.0.0.1 (port 0 = any free port). */
export function startLocalOutreach(opts: { port?: number; host?: string } = {}): Promise<LocalOutreach> {
	const app = createLocalOutreach();
	const host = opts.host ?? "127.0.0.1";
	return new Promise((resolve, reject) => {
		const server = serve({ fetch: app.fetch, port: opts.port ?? 8788, hostname: host }, (info: AddressInfo) => {
			resolve({
				url: `http://${host}:${info.port}`,
				port: info.port,
				close: () => new Promise<void>((done) => server.close(() => done())),
			});
		});
		server.once("error", reject);
	});
}
