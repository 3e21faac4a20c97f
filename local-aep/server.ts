/**
 * A local stand-in for AEP's Destination SDK authoring API (reference/aep.md §Destination SDK), beside the local
 * Outreach and outside src/: `npm run aep -- publish|test` and their tests run against it. Like AEP it checks
 * the four headers, refuses configurations missing required fields, stores them per organization and sandbox,
 * answers their ids, and for a destination test renders the stored template over sample profiles and POSTs the
 * result to the instance's ingest URL with the customer's bearer token, answering the calls it made.
 */
import { serve } from "@hono/node-server";
import { Hono, type Context } from "hono";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { renderPebble } from "../scripts/aep/render.ts";

const Templated = z.object({ templatingStrategy: z.enum(["PEBBLE_V1", "NONE"]), value: z.string().min(1) });

export const DestinationServer = z.looseObject({
	name: z.string().min(1),
	destinationServerType: z.literal("URL_BASED"),
	urlBasedDestination: z.object({ url: Templated }),
	httpTemplate: z.looseObject({
		httpMethod: z.enum(["POST", "PUT", "PATCH", "DELETE", "GET"]),
		requestBody: Templated,
		contentType: z.string().min(1),
	}),
});

export const DestinationConfig = z.looseObject({
	name: z.string().min(1),
	customerAuthenticationConfigurations: z.array(z.looseObject({ authType: z.enum(["BEARER", "OAUTH2", "BASIC", "S3", "AZURE_CONNECTION_STRING", "SFTP_WITH_PASSWORD"]) })).min(1),
	customerDataFields: z.array(z.looseObject({ name: z.string().min(1), type: z.string(), isRequired: z.boolean().optional() })).default([]),
	uiAttributes: z.looseObject({ category: z.string(), connectionType: z.string(), frequency: z.string() }),
	identityNamespaces: z.record(z.string(), z.looseObject({})).refine((m) => Object.keys(m).length > 0, "at least one identity namespace is required, or users cannot pass the mapping step"),
	schemaConfig: z.looseObject({
		profileFields: z.array(z.looseObject({ name: z.string().min(1), type: z.string() })),
		profileRequired: z.boolean(),
		segmentRequired: z.literal(true),
		identityRequired: z.boolean(),
	}),
	segmentMappingConfig: z.looseObject({ mapUserInput: z.boolean() }),
	aggregation: z.discriminatedUnion("aggregationType", [
		z.looseObject({
			aggregationType: z.literal("CONFIGURABLE_AGGREGATION"),
			configurableAggregation: z.looseObject({
				maxBatchAgeInSecs: z.number().int().min(301).max(3600),
				maxNumEventsInBatch: z.number().int().min(1000).max(10000),
				aggregationKey: z.looseObject({ includeSegmentId: z.boolean(), includeSegmentStatus: z.boolean() }),
			}),
		}),
		z.looseObject({ aggregationType: z.literal("BEST_EFFORT"), bestEffortAggregation: z.looseObject({ maxUsersPerRequest: z.number().int().min(1).max(10) }) }),
	]),
	destinationDelivery: z.array(z.object({ authenticationRule: z.enum(["CUSTOMER_AUTHENTICATION", "PLATFORM_AUTHENTICATION", "NONE"]), destinationServerId: z.string().min(1) })).min(1),
});

/** A destination instance (a connection a user made in AEP's UI): what the destination test needs. */
const Instance = z.object({
	instanceId: z.string().min(1),
	destinationId: z.string().min(1),
	customerData: z.record(z.string(), z.string()),
	bearerToken: z.string().min(1),
	/** namespace → segment id → Mapping ID typed in the scheduling step. */
	aliases: z.record(z.string(), z.record(z.string(), z.string())).default({}),
	/** Sample profiles AEP would generate when the test names none (target schema). */
	sampleProfiles: z.array(z.record(z.string(), z.unknown())).default([]),
});
type Instance = z.infer<typeof Instance>;

type Stored = { instanceId: string; createdDate: number; lastModifiedDate: number } & Record<string, unknown>;
type Sandbox = { servers: Map<string, Stored>; destinations: Map<string, Stored>; instances: Map<string, Instance> };

export type AuthoringLog = { method: string; path: string; status: number }[];

function aepError(c: Context, status: 400 | 401 | 403 | 404, title: string, detail: string) {
	return c.json({ error_code: String(status), title, type: "https://ns.adobe.com/aep/errors", status, report: { detail } }, status);
}

export function createLocalAep(opts: { accessToken?: string } = {}) {
	const sandboxes = new Map<string, Sandbox>();
	const log: AuthoringLog = [];
	const sandboxOf = (org: string, name: string): Sandbox => {
		const key = `${org}/${name}`;
		let s = sandboxes.get(key);
		if (!s) sandboxes.set(key, (s = { servers: new Map(), destinations: new Map(), instances: new Map() }));
		return s;
	};
	const app = new Hono<{ Variables: { sandbox: Sandbox } }>();

	app.use("/data/core/activation/authoring/*", async (c, next) => {
		const auth = /^Bearer\s+(\S+)$/.exec(c.req.header("Authorization") ?? "")?.[1];
		const missing = ["x-api-key", "x-gw-ims-org-id", "x-sandbox-name"].filter((h) => !c.req.header(h));
		let res: Response | undefined;
		if (!auth) res = aepError(c, 401, "Unauthorized", "Authorization: Bearer <IMS access token> is required");
		else if (opts.accessToken !== undefined && auth !== opts.accessToken) res = aepError(c, 401, "Unauthorized", "The access token is not valid");
		else if (missing.length) res = aepError(c, 403, "Forbidden", `Missing header(s): ${missing.join(", ")}`);
		if (res) {
			log.push({ method: c.req.method, path: c.req.path, status: res.status });
			return res;
		}
		c.set("sandbox", sandboxOf(c.req.header("x-gw-ims-org-id")!, c.req.header("x-sandbox-name")!));
		await next();
		log.push({ method: c.req.method, path: c.req.path, status: c.res.status });
	});

	const crud = (path: string, pick: (s: Sandbox) => Map<string, Stored>, schema: z.ZodType, check?: (s: Sandbox, body: Record<string, unknown>) => string | null) => {
		const base = `/data/core/activation/authoring/${path}`;
		const validate = async (c: Context<{ Variables: { sandbox: Sandbox } }>) => {
			const body: unknown = await c.req.json().catch(() => undefined);
			const parsed = schema.safeParse(body);
			if (!parsed.success) return { error: parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ") };
			const problem = check?.(c.get("sandbox"), parsed.data as Record<string, unknown>);
			return problem ? { error: problem } : { body: parsed.data as Record<string, unknown> };
		};
		app.get(base, (c) => c.json({ items: [...pick(c.get("sandbox")).values()] }));
		app.post(base, async (c) => {
			const v = await validate(c);
			if ("error" in v) return aepError(c, 400, "Bad Request", v.error!);
			const now = Date.now();
			const stored: Stored = { ...v.body!, instanceId: crypto.randomUUID(), createdDate: now, lastModifiedDate: now };
			pick(c.get("sandbox")).set(stored.instanceId, stored);
			return c.json(stored, 200);
		});
		app.get(`${base}/:id`, (c) => {
			const found = pick(c.get("sandbox")).get(c.req.param("id"));
			return found ? c.json(found) : aepError(c, 404, "Not Found", `No ${path} with id ${c.req.param("id")}`);
		});
		app.put(`${base}/:id`, async (c) => {
			const map = pick(c.get("sandbox"));
			const found = map.get(c.req.param("id"));
			if (!found) return aepError(c, 404, "Not Found", `No ${path} with id ${c.req.param("id")}`);
			const v = await validate(c);
			if ("error" in v) return aepError(c, 400, "Bad Request", v.error!);
			const stored: Stored = { ...v.body!, instanceId: found.instanceId, createdDate: found.createdDate, lastModifiedDate: Date.now() };
			map.set(found.instanceId, stored);
			return c.json(stored);
		});
		app.delete(`${base}/:id`, (c) => (pick(c.get("sandbox")).delete(c.req.param("id")) ? c.body(null, 204) : aepError(c, 404, "Not Found", `No ${path} with id ${c.req.param("id")}`)));
	};
	crud("destination-servers", (s) => s.servers, DestinationServer);
	crud("destinations", (s) => s.destinations, DestinationConfig, (s, body) => {
		const ids = (body.destinationDelivery as { destinationServerId: string }[]).map((d) => d.destinationServerId);
		const unknown = ids.filter((id) => !s.servers.has(id));
		return unknown.length ? `destinationDelivery names destination server(s) that do not exist: ${unknown.join(", ")}` : null;
	});

	/** The destination test: renders the stored template per aggregation key and sends each request. */
	app.post("/data/core/activation/authoring/testing/destinationInstance/:instanceId", async (c) => {
		const sandbox = c.get("sandbox");
		const instance = sandbox.instances.get(c.req.param("instanceId"));
		if (!instance) return aepError(c, 404, "Not Found", `No destination instance ${c.req.param("instanceId")}: connect the destination in AEP's UI first`);
		const destination = sandbox.destinations.get(instance.destinationId);
		const server = destination && sandbox.servers.get((destination.destinationDelivery as { destinationServerId: string }[])[0]!.destinationServerId);
		if (!destination || !server) return aepError(c, 400, "Bad Request", "The instance's destination configuration or server no longer exists");
		const body = (await c.req.json().catch(() => ({}))) as { profiles?: Record<string, unknown>[] };
		const profiles = body.profiles ?? instance.sampleProfiles;
		const s = DestinationServer.parse(server);
		const context = { customerData: instance.customerData, destination: { namespaceSegmentAliases: instance.aliases } };
		const url = renderPebble(s.urlBasedDestination.url.value, context);
		// Configurable aggregation: one request per (segment, status) among the profiles' memberships.
		const groups = new Map<string, { key: Record<string, string>; profiles: unknown[] }>();
		for (const p of profiles) {
			const membership = (p.segmentMembership ?? {}) as Record<string, Record<string, { status: string }>>;
			for (const [namespace, segments] of Object.entries(membership))
				for (const [segmentId, m] of Object.entries(segments)) {
					const alias = instance.aliases[namespace]?.[segmentId];
					if (alias === undefined) continue;
					const k = `${namespace}/${segmentId}/${m.status}`;
					const g = groups.get(k) ?? { key: { segmentId, segmentNamespace: namespace, segmentAlias: alias, segmentStatus: m.status }, profiles: [] };
					g.profiles.push({ ...p, segmentMembership: { [namespace]: { [segmentId]: m } } });
					groups.set(k, g);
				}
		}
		const results = [];
		for (const g of groups.values()) {
			const requestBody = renderPebble(s.httpTemplate.requestBody.value, { ...context, input: { aggregationKey: g.key, profiles: g.profiles } });
			const traceId = crypto.randomUUID();
			let response: { status: number; body: string };
			try {
				const res = await fetch(url, {
					method: s.httpTemplate.httpMethod,
					headers: { Authorization: `Bearer ${instance.bearerToken}`, "Content-Type": s.httpTemplate.contentType },
					body: requestBody,
				});
				response = { status: res.status, body: await res.text() };
			} catch (err) {
				response = { status: 0, body: (err as Error).message };
			}
			// As AEP's answer does, the request is shown without the customer's token.
			results.push({ aggregationKey: g.key, httpCalls: [{ traceId, request: { method: s.httpTemplate.httpMethod, url, body: requestBody }, response }] });
		}
		return c.json({ results });
	});

	/** Control: registers a destination instance, as connecting in AEP's UI would. */
	app.post("/__fake/instances", async (c) => {
		const org = c.req.header("x-gw-ims-org-id") ?? "";
		const sandbox = c.req.header("x-sandbox-name") ?? "";
		const parsed = Instance.safeParse(await c.req.json().catch(() => undefined));
		if (!parsed.success) return c.json({ error: parsed.error.message }, 400);
		sandboxOf(org, sandbox).instances.set(parsed.data.instanceId, parsed.data);
		return c.json({ ok: true });
	});
	app.get("/__fake/log", (c) => c.json(log));
	return app;
}

export type LocalAep = { url: string; close(): Promise<void> };

/** Serves the stand-in on 127.0.0.1 (port 0 = any free port). */
export function startLocalAep(opts: { port?: number; accessToken?: string } = {}): Promise<LocalAep> {
	const app = createLocalAep(opts);
	return new Promise((resolve, reject) => {
		const server = serve({ fetch: app.fetch, port: opts.port ?? 0, hostname: "127.0.0.1" }, (info: AddressInfo) =>
			resolve({
				url: `http://127.0.0.1:${info.port}`,
				close: () =>
					new Promise<void>((done) => {
						server.close(() => done());
						if ("closeAllConnections" in server) server.closeAllConnections();
					}),
			}),
		);
		server.once("error", reject);
	});
}
