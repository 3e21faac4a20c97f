import { z } from "zod";
import { LruCache } from "../platform/cache";
import { StoredMapping } from "./mapping";
import { count } from "../platform/metrics";

/**
 * The control plane's records as KV holds them (layout: src/STORAGE.md). KV is a read cache: a destination's
 * record and mapping are written by its ledger (their authority, src/ledger/record.ts), its connection by its
 * gate. Reads go through a short in-memory cache, because ingest and delivery read them on every request; a
 * change reaches other locations within about a minute (KV propagation).
 */

export const OutreachUser = z.object({ id: z.number().int(), email: z.string() });
export type OutreachUser = z.infer<typeof OutreachUser>;

export const DestinationRecord = z.object({
	id: z.string(),
	name: z.string(),
	description: z.string(),
	enabled: z.boolean(),
	createdAt: z.string(),
	/** SHA-256 (hex) of the current ingest token; the token itself is never stored. */
	ingestTokenHash: z.string(),
	/** Deliver segment statuses through Outreach's bulk API (needs the batches scopes). */
	bulkApi: z.boolean().default(false),
	/** The gate holding the destination's grant (written on connect and disconnect): where its versions live. */
	gate: z.string().nullable().default(null),
	/** A grant from a flow started through the API, waiting for an admin's confirmation until `expiresAt`. */
	pendingConnection: z.object({ gate: z.string(), user: OutreachUser, expiresAt: z.number() }).nullable().default(null),
});
export type DestinationRecord = z.infer<typeof DestinationRecord>;

export const ConnectionStatus = z.enum(["connected", "reconnect_required"]);

/** Written only by the gate: which gate holds this destination's grant, and its state. */
export const ConnectionRecord = z.object({
	gate: z.string(),
	user: OutreachUser,
	status: ConnectionStatus,
	reason: z.string().optional(),
	updatedAt: z.string(),
	/** The encrypted token record, mirrored for the console; only the gate can decrypt and use it. */
	grant: z.string().optional(),
	/** The grant's generation: a reconnect starts a newer one, so a refusal of an older grant is told apart. */
	generation: z.number().optional(),
	/** The scopes Outreach granted (space-separated), e.g. whether the bulk API's batches scopes are there. */
	scope: z.string().optional(),
});
export type ConnectionRecord = z.infer<typeof ConnectionRecord>;

export const keys = {
	destination: (id: string) => `destination:${id}`,
	destinationPrefix: "destination:",
	mapping: (id: string) => `mapping:${id}`,
	connection: (id: string) => `connection:${id}`,
	oauthState: (state: string) => `oauth-state:${state}`,
	alerts: (id: string) => `alerts:${id}`,
} as const;

const CACHE_MS = 5_000;
// Bounded: unauthenticated requests name ids at will, and each miss is cached too.
const cache = new LruCache<string, { at: number; value: unknown }>(1_000);

async function cachedJson<T>(kv: KVNamespace, key: string, schema: z.ZodType<T>): Promise<T | null> {
	const hit = cache.get(key);
	if (hit && Date.now() - hit.at < CACHE_MS) return hit.value as T | null;
	count("kvReads");
	const raw = await kv.get(key, "json");
	const parsed = raw === null ? null : schema.safeParse(raw);
	const value = parsed === null ? null : parsed.success ? parsed.data : null;
	cache.set(key, { at: Date.now(), value });
	return value;
}

async function putJson(kv: KVNamespace, key: string, value: unknown): Promise<void> {
	count("kvWrites");
	await kv.put(key, JSON.stringify(value));
	cache.set(key, { at: Date.now(), value });
}

async function remove(kv: KVNamespace, key: string): Promise<void> {
	await kv.delete(key);
	cache.delete(key);
}

/** Typed access to the control plane's KV records. */
export function destinationStore(env: Env) {
	const kv = env.CONFIG;
	return {
		get: (id: string) => cachedJson(kv, keys.destination(id), DestinationRecord),
		/** The record straight from KV, past this isolate's cache: for read-modify-write. */
		async getFresh(id: string): Promise<DestinationRecord | null> {
			cache.delete(keys.destination(id));
			return cachedJson(kv, keys.destination(id), DestinationRecord);
		},
		put: (d: DestinationRecord) => putJson(kv, keys.destination(d.id), d),
		/** Tells this isolate's cache what the destination's authority just wrote (it may run elsewhere). */
		noteDestination(d: DestinationRecord): void {
			cache.set(keys.destination(d.id), { at: Date.now(), value: d });
		},
		async list(): Promise<DestinationRecord[]> {
			const out: DestinationRecord[] = [];
			let cursor: string | undefined;
			do {
				const page = await kv.list({ prefix: keys.destinationPrefix, cursor });
				const records = await Promise.all(page.keys.map((k) => cachedJson(kv, k.name, DestinationRecord)));
				for (const r of records) if (r) out.push(r);
				cursor = page.list_complete ? undefined : page.cursor;
			} while (cursor);
			return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
		},
		getMapping: (id: string) => cachedJson(kv, keys.mapping(id), StoredMapping),
		putMapping: (id: string, m: StoredMapping) => putJson(kv, keys.mapping(id), m),
		/** Forgets this isolate's copy of a destination's records, so the next read asks KV. */
		forget(id: string): void {
			for (const key of [keys.destination(id), keys.mapping(id), keys.connection(id)]) cache.delete(key);
		},
		getConnection: (id: string) => cachedJson(kv, keys.connection(id), ConnectionRecord),
		putConnection: (id: string, c: ConnectionRecord) => putJson(kv, keys.connection(id), c),
		deleteConnection: (id: string) => remove(kv, keys.connection(id)),
		/**
		 * Tells this isolate's cache what the gate just wrote (the gate may run elsewhere), so the Worker that
		 * handled a connect or disconnect answers with the new state at once.
		 */
		noteConnection(id: string, c: ConnectionRecord | null): void {
			cache.set(keys.connection(id), { at: Date.now(), value: c });
		},
		/** Erases every KV record of a destination (the ledger and grant are erased by their objects). */
		async erase(id: string): Promise<void> {
			await Promise.all([keys.destination(id), keys.mapping(id), keys.connection(id), keys.alerts(id)].map((k) => remove(kv, k)));
		},
	};
}

export type DestinationView = {
	id: string;
	name: string;
	description: string;
	enabled: boolean;
	bulkApi: boolean;
	status: "not_connected" | "connected" | "reconnect_required" | "confirmation_required";
	/** Why the connection needs reconnecting (only with `reconnect_required`). */
	statusReason?: string;
	outreachUser: { id: number; email: string } | null;
	/** Who completed a sign-in started through the API, waiting for an admin to confirm it (`confirmation_required`). */
	pendingOutreachUser?: { id: number; email: string };
	ingestUrl: string;
	createdAt: string;
};

/** A destination as the API shows it: the record, its connection's state (never a token), and its ingest URL. */
export function destinationView(record: DestinationRecord, connection: ConnectionRecord | null, base: string, now = Date.now()): DestinationView {
	const pending = record.pendingConnection && record.pendingConnection.expiresAt > now ? record.pendingConnection : null;
	return {
		id: record.id,
		name: record.name,
		description: record.description,
		enabled: record.enabled,
		bulkApi: record.bulkApi,
		status: pending ? "confirmation_required" : (connection?.status ?? "not_connected"),
		...(connection?.status === "reconnect_required" && connection.reason ? { statusReason: connection.reason } : {}),
		outreachUser: connection ? { id: connection.user.id, email: connection.user.email } : null,
		...(pending ? { pendingOutreachUser: { id: pending.user.id, email: pending.user.email } } : {}),
		ingestUrl: `${base}/ingest/${encodeURIComponent(record.id)}`,
		createdAt: record.createdAt,
	};
}

