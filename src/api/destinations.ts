import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import { publicBase } from "../config";
import { randomToken, sha256Hex } from "../crypto";
import { destinationStore, destinationView, type DestinationRecord } from "../destinations";
import { ApiError } from "../errors";
import { gateStub } from "../gate/gate";
import { ledgerStub } from "../ledger";
import { log } from "../log";
import { beginConnect } from "../oauth";
import { jsonBody } from "../validation";

/**
 * Admin routes under /api/destinations (behind requireAdmin in app.ts): create, list, read, change, delete
 * a destination, rotate its ingest token, connect it to Outreach and disconnect it.
 *
 * Ingest tokens are 256 random bits, shown once (at creation or rotation) and stored only as SHA-256. After a
 * rotation the old token keeps working until the new record reaches every location: at most the 5-second
 * in-memory cache plus KV propagation (about a minute).
 */

type WithDestination = { Bindings: Env; Variables: { destination: DestinationRecord } };

/** Loads the `:id` destination into `c.var.destination`, or answers 404. */
export const loadDestination = createMiddleware<WithDestination>(async (c, next) => {
	const id = c.req.param("id") ?? "";
	// Ids are UUIDs; a very long one would also exceed KV's 512-byte key limit.
	const record = id.length <= 64 ? await destinationStore(c.env).get(id) : null;
	if (!record) throw new ApiError("not_found", `No destination '${id}'. List them with GET /api/destinations.`);
	c.set("destination", record);
	await next();
});

/** A new ingest token and the hash to store; the token itself is never stored. */
async function newIngestToken(): Promise<{ token: string; hash: string }> {
	const token = randomToken(32);
	return { token, hash: await sha256Hex(token) };
}

const Name = z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters");
const Description = z.string().trim().max(2000, "must be at most 2,000 characters");

const CreateBody = z.strictObject({ name: Name, description: Description.optional() });

const PatchBody = z
	.strictObject({ name: Name.optional(), description: Description.optional(), enabled: z.boolean({ error: "must be true or false" }).optional() })
	.refine((b) => Object.keys(b).length > 0, { error: "send at least one of name, description, enabled" });

const noStore = { "Cache-Control": "no-store" };

export const destinationsApi = new Hono<WithDestination>()

	.post("/", jsonBody(CreateBody), async (c) => {
		const body = c.req.valid("json");
		const { token, hash } = await newIngestToken();
		const record: DestinationRecord = {
			id: crypto.randomUUID(),
			name: body.name,
			description: body.description ?? "",
			enabled: true,
			createdAt: new Date().toISOString(),
			ingestTokenHash: hash,
		};
		await destinationStore(c.env).put(record);
		log("info", "destination_created", { destinationId: record.id });
		return c.json({ ...destinationView(record, null, publicBase(c.env, c.req.url)), ingestToken: token }, 201, noStore);
	})
	.get("/", async (c) => {
		const store = destinationStore(c.env);
		const base = publicBase(c.env, c.req.url);
		const records = await store.list();
		const connections = await Promise.all(records.map((r) => store.getConnection(r.id)));
		return c.json({ destinations: records.map((r, i) => destinationView(r, connections[i] ?? null, base)) });
	})
	.get("/:id", loadDestination, async (c) => {
		const record = c.var.destination;
		const connection = await destinationStore(c.env).getConnection(record.id);
		return c.json(destinationView(record, connection, publicBase(c.env, c.req.url)));
	})
	.patch("/:id", loadDestination, jsonBody(PatchBody), async (c) => {
		const store = destinationStore(c.env);
		const changes = c.req.valid("json");
		// Re-read past the cache so a token rotated a moment ago elsewhere is not written back over.
		const record: DestinationRecord = { ...((await store.getFresh(c.var.destination.id)) ?? c.var.destination), ...changes };
		await store.put(record);
		log("info", "destination_changed", { destinationId: record.id, fields: Object.keys(changes) });
		return c.json(destinationView(record, await store.getConnection(record.id), publicBase(c.env, c.req.url)));
	})
	.delete("/:id", loadDestination, async (c) => {
		const id = c.var.destination.id;
		const store = destinationStore(c.env);
		const connection = await store.getConnection(id);
		// The grant first (its gate also deletes the KV connection record), then the ledger, then the KV records.
		if (connection) await gateStub(c.env, connection.gate).removeGrant(id);
		await ledgerStub(c.env, id).erase();
		await store.erase(id);
		log("info", "destination_deleted", { destinationId: id });
		return c.body(null, 204);
	})
	.post("/:id/ingest-token", loadDestination, async (c) => {
		const { token, hash } = await newIngestToken();
		const store = destinationStore(c.env);
		await store.put({ ...((await store.getFresh(c.var.destination.id)) ?? c.var.destination), ingestTokenHash: hash });
		log("info", "ingest_token_rotated", { destinationId: c.var.destination.id });
		return c.json({ ingestToken: token }, 200, noStore);
	})
	.post("/:id/connect", loadDestination, async (c) => {
		const authorizeUrl = await beginConnect(c.env, c.req.url, c.var.destination.id);
		return c.json({ authorizeUrl }, 200, noStore);
	})
	.delete("/:id/connection", loadDestination, async (c) => {
		const record = c.var.destination;
		const store = destinationStore(c.env);
		const connection = await store.getConnection(record.id);
		if (connection) await gateStub(c.env, connection.gate).removeGrant(record.id);
		store.noteConnection(record.id, null);
		log("info", "destination_disconnected", { destinationId: record.id });
		return c.json(destinationView(record, null, publicBase(c.env, c.req.url)));
	});
