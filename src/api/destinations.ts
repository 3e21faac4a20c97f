import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import { publicBase } from "../platform/config";
import { randomToken, sha256Hex } from "../platform/crypto";
import { confirm, connectionOf, disconnect, viewOf } from "../oauth/connection";
import { destinationStore, destinationView, type DestinationRecord } from "../destinations/records";
import { ApiError } from "../platform/errors";
import { ledgerStub } from "../ledger/ledger";
import { log } from "../platform/log";
import { beginConnect } from "../oauth/begin";
import { jsonBody } from "../http/validation";
import { changesSummary } from "../audit/summaries";
import { noteAudit } from "./permissions";

/**
 * Admin routes under /api/destinations (behind requireAdmin in app.ts): create, list, read, change, delete
 * a destination, rotate its ingest token, connect it to Outreach and disconnect it.
 *
 * Ingest tokens are 256 random bits, shown once (at creation or rotation) and stored only as SHA-256. After a
 * rotation the old token keeps working until the new record reaches every location: at most the 5-second
 * in-memory cache plus KV propagation (about a minute).
 *
 * Every change goes through the destination's ledger, the one writer of its record (KV is its read cache), so
 * a change made where KV is stale never brings back an old token or re-enables a paused destination.
 */

type WithDestination = { Bindings: Env; Variables: { destination: DestinationRecord } };

/** Loads the `:id` destination (from its authority) into `c.var.destination`, or answers 404. */
export const loadDestination = createMiddleware<WithDestination>(async (c, next) => {
	const id = c.req.param("id") ?? "";
	// Ids are UUIDs; a very long one would also exceed KV's 512-byte key limit. KV answers "no such
	// destination" without waking a Durable Object for an unknown id.
	const known = id.length <= 64 ? await destinationStore(c.env).get(id) : null;
	const record = known ? await ledgerStub(c.env, id).destination(id) : null;
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
	.strictObject({
		name: Name.optional(),
		description: Description.optional(),
		enabled: z.boolean({ error: "must be true or false" }).optional(),
		bulkApi: z.boolean({ error: "must be true or false" }).optional(),
	})
	.refine((b) => Object.keys(b).length > 0, { error: "send at least one of name, description, enabled, bulkApi" });

const noStore = { "Cache-Control": "no-store" };

/** The authority's answer, or a 404 when the destination was deleted meanwhile. */
function found(record: DestinationRecord | null, id: string): DestinationRecord {
	if (!record) throw new ApiError("not_found", `No destination '${id}'. List them with GET /api/destinations.`);
	return record;
}

export const destinationsApi = new Hono<WithDestination>()
	.post("/", jsonBody(CreateBody), async (c) => {
		const body = c.req.valid("json");
		const { token, hash } = await newIngestToken();
		const id = crypto.randomUUID();
		const record = await ledgerStub(c.env, id).createDestination({
			id,
			name: body.name,
			description: body.description ?? "",
			enabled: true,
			createdAt: new Date().toISOString(),
			ingestTokenHash: hash,
			bulkApi: false,
			gate: null,
			pendingConnection: null,
		});
		destinationStore(c.env).noteDestination(record);
		log("info", "destination_created", { destinationId: record.id });
		noteAudit(c, { summary: `destination '${record.name}' created`, destinationId: record.id });
		return c.json({ ...destinationView(record, null, publicBase(c.env, c.req.url)), ingestToken: token }, 201, noStore);
	})
	.get("/", async (c) => {
		const base = publicBase(c.env, c.req.url);
		const records = await destinationStore(c.env).list();
		return c.json({ destinations: await Promise.all(records.map((r) => viewOf(c.env, r, base))) });
	})
	.get("/:id", loadDestination, async (c) => {
		return c.json(await viewOf(c.env, c.var.destination, publicBase(c.env, c.req.url)));
	})
	.patch("/:id", loadDestination, jsonBody(PatchBody), async (c) => {
		const changes = c.req.valid("json");
		const id = c.var.destination.id;
		const before = c.var.destination;
		const record = found(await ledgerStub(c.env, id).updateDestination(id, changes), id);
		noteAudit(c, { summary: changesSummary("destination", before, changes) });
		destinationStore(c.env).noteDestination(record);
		log("info", "destination_changed", { destinationId: id, fields: Object.keys(changes) });
		return c.json(await viewOf(c.env, record, publicBase(c.env, c.req.url)));
	})
	.delete("/:id", loadDestination, async (c) => {
		const record = c.var.destination;
		// The grant first (its gate also deletes the KV connection record), then the ledger, then the KV records.
		await disconnect(c.env, record);
		await ledgerStub(c.env, record.id).erase();
		await destinationStore(c.env).erase(record.id);
		log("info", "destination_deleted", { destinationId: record.id });
		noteAudit(c, { summary: `destination '${record.name}' deleted` });
		return c.body(null, 204);
	})
	.post("/:id/ingest-token", loadDestination, async (c) => {
		const { token, hash } = await newIngestToken();
		const id = c.var.destination.id;
		destinationStore(c.env).noteDestination(found(await ledgerStub(c.env, id).rotateIngestToken(id, hash), id));
		log("info", "ingest_token_rotated", { destinationId: id });
		noteAudit(c, { summary: "ingest token rotated (the old one stops within a minute)" });
		return c.json({ ingestToken: token }, 200, noStore);
	})
	.post("/:id/connect", loadDestination, async (c) => {
		const authorizeUrl = await beginConnect(c.env, c.req.url, c.var.destination);
		return c.json({ authorizeUrl }, 200, noStore);
	})
	/**
	 * Confirms who completed a sign-in started through the API (`status: confirmation_required`, with
	 * `pendingOutreachUser`): only then is the destination connected as that Outreach user.
	 */
	.post("/:id/connection/confirm", loadDestination, async (c) => {
		const record = c.var.destination;
		const confirmed = await confirm(c.env, record);
		if (!confirmed)
			throw new ApiError(
				"conflict",
				`Destination '${record.id}' has no sign-in waiting for confirmation (a sign-in waits 10 minutes). Start again with POST /api/destinations/${record.id}/connect.`,
			);
		const user = confirmed.connection?.user;
		noteAudit(c, { summary: `connection confirmed${user ? ` as Outreach user ${user.id} (${user.email})` : ""}` });
		return c.json(destinationView(confirmed.record, confirmed.connection, publicBase(c.env, c.req.url)));
	})
	.delete("/:id/connection", loadDestination, async (c) => {
		const before = await connectionOf(c.env, c.var.destination);
		const record = await disconnect(c.env, c.var.destination);
		noteAudit(c, { summary: `connection: ${before ? `Outreach user ${before.user.id} (${before.user.email})` : "not connected"} → disconnected` });
		return c.json(destinationView(record, null, publicBase(c.env, c.req.url)));
	});
