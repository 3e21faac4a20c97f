import { z } from "zod";
import { bulkSettingsSchema, defaultBulkSettings, newBulkState, type BulkState } from "./batches.ts";
import { defaultImportSettings, importSettingsSchema, newImportsState, type ImportsState } from "./imports.ts";
import { fieldRuleSchema, type FieldRule } from "./rules.ts";
import { isWritableAttribute, prospectAttributes } from "./schema.ts";
import { WriteLog, type Write } from "./writes.ts";

// Everything the local Outreach knows lives in one in-memory World per server: tests reset it between files,
// and the control routes read it. Nothing survives a restart, as nothing should.

const positiveInt = z.number().int().positive();

/** What /__fake/reset (and startLocalOutreach's options) may set; anything left out takes its default. */
export const settingsSchema = z.strictObject({
	prospects: z
		.array(z.union([positiveInt, z.strictObject({ id: positiveInt, attributes: z.record(z.string(), z.unknown()).optional() })]))
		.optional(),
	users: z
		.array(
			z.strictObject({
				id: positiveInt,
				email: z.string().min(1),
				password: z.string(),
				firstName: z.string().optional(),
				lastName: z.string().optional(),
			}),
		)
		.min(1)
		.refine((users) => new Set(users.map((u) => u.id)).size === users.length, "user ids must be unique")
		.refine((users) => new Set(users.map((u) => u.email.toLowerCase())).size === users.length, "user emails must be unique")
		.optional(),
	clients: z
		.array(
			z.strictObject({
				clientId: z.string().min(1),
				clientSecret: z.string().min(1),
				// When given, authorize and token requests must use one of these (as at Outreach's developer portal).
				redirectUris: z.array(z.url()).optional(),
			}),
		)
		.min(1)
		.optional(),
	rateLimit: z.strictObject({ limit: positiveInt, windowSeconds: z.number().positive() }).optional(),
	accessTokenTtlSeconds: z.number().positive().optional(),
	fieldRules: z
		.record(
			z.string().refine((name) => Object.hasOwn(prospectAttributes, name), "not a prospect attribute")
				.refine(isWritableAttribute, "a read-only attribute cannot carry a field rule"),
			fieldRuleSchema,
		)
		.optional(),
	// Merged field by field over the server's defaults, so a benchmark's `itemsPerSecond` survives a test's reset.
	bulk: bulkSettingsSchema.optional(),
	// The same for imports (`recordsPerSecond` is scaled with a compressed clock like `bulk.itemsPerSecond`).
	imports: importSettingsSchema.optional(),
});

export type Settings = z.infer<typeof settingsSchema>;
export type User = { id: number; email: string; password: string; firstName: string | null; lastName: string | null };
export type Client = { clientId: string; clientSecret: string; redirectUris?: string[] };
export type Attributes = Record<string, unknown>;

/** A code handed out at sign-in: single-use, bound to its client and redirect_uri. */
export type AuthorizationCode = {
	userId: number;
	clientId: string;
	redirectUri: string;
	scope: string;
	expiresAt: number;
	used: boolean;
};

/** Expiry is derived from `expiresAt`, so `state` only says what happened to the token. */
export type Token = {
	type: "access" | "refresh";
	value: string;
	userId: number;
	clientId: string;
	scope: string;
	createdAt: number;
	expiresAt: number;
	state: "active" | "revoked" | "used";
};

export type RateWindow = { start: number; count: number };
export type LoggedRequest = { at: number; userId: number | null; method: string; path: string; status: number; resetAt?: number };

export type Faults = {
	/** `remaining` faults (Infinity = until cleared), each call hit with `probability`. */
	status: { status: number; remaining: number; probability: number; retryAfterSeconds: number } | null;
	latencyMs: number;
	/** Token requests still to be carried out and then left unanswered (the connection dropped). */
	tokenAnswerLost: number;
};

export type World = {
	defaults: Settings;
	users: Map<number, User>;
	clients: Map<string, Client>;
	rateLimit: { limit: number; windowSeconds: number };
	accessTokenTtlSeconds: number;
	fieldRules: Record<string, FieldRule>;
	// Prospects 1…seededRange exist without attributes and are not allocated until written; `stored` holds the
	// written ones and the ones given to reset.
	prospects: { seededRange: number; stored: Map<number, Attributes> };
	codes: Map<string, AuthorizationCode>;
	tokens: Map<string, Token>;
	windows: Map<number, RateWindow>;
	faults: Faults;
	log: LoggedRequest[];
	writes: WriteLog;
	bulk: BulkState;
	imports: ImportsState;
	stats: {
		requests: Record<string, Record<string, number>>;
		status429: number;
		tokenGrants: { authorization_code: number; refresh_token: number };
	};
};

export const builtInSettings = {
	users: [{ id: 1, email: "rep@example.com", password: "outreach", firstName: "Rep", lastName: "Example" }],
	clients: [{ clientId: "local-client", clientSecret: "local-secret" }],
	rateLimit: { limit: 10_000, windowSeconds: 3600 },
	accessTokenTtlSeconds: 7200,
	fieldRules: {},
} satisfies Settings;

const DEFAULT_PROSPECT_COUNT = 10_000;

/** A World in its reset state; `defaults` (e.g. the benchmark's rate limit) is what an empty reset restores. */
export function createWorld(defaults: Settings = {}): World {
	const world = { defaults } as World;
	resetWorld(world, {});
	return world;
}

/** Forgets everything, then applies `settings` over the World's defaults. */
export function resetWorld(world: World, settings: Settings): void {
	const s = { ...builtInSettings, ...world.defaults, ...settings };
	world.users = new Map(
		s.users.map((u) => [u.id, { id: u.id, email: u.email, password: u.password, firstName: u.firstName ?? null, lastName: u.lastName ?? null }]),
	);
	world.clients = new Map(s.clients.map((c) => [c.clientId, { ...c }]));
	world.rateLimit = { ...s.rateLimit };
	world.accessTokenTtlSeconds = s.accessTokenTtlSeconds;
	world.fieldRules = { ...s.fieldRules };
	world.prospects = { seededRange: s.prospects ? 0 : DEFAULT_PROSPECT_COUNT, stored: new Map() };
	for (const p of s.prospects ?? []) {
		if (typeof p === "number") world.prospects.stored.set(p, {});
		else world.prospects.stored.set(p.id, { ...p.attributes });
	}
	world.codes = new Map();
	world.tokens = new Map();
	world.windows = new Map();
	world.faults = noFaults();
	world.log = [];
	world.writes = new WriteLog();
	// Running batches and imports and their timers go with everything else; a reset never leaves one applying.
	stopAppliers(world);
	world.bulk = newBulkState({ ...defaultBulkSettings, ...world.defaults.bulk, ...settings.bulk });
	world.imports = newImportsState({ ...defaultImportSettings, ...world.defaults.imports, ...settings.imports });
	world.stats = { requests: {}, status429: 0, tokenGrants: { authorization_code: 0, refresh_token: 0 } };
}

/** Stops applying batches and imports: on reset, and when the server closes (no write after it is gone). */
export function stopAppliers(world: World): void {
	world.bulk?.applier?.stop();
	world.imports?.applier?.stop();
}

/** The prospect id a URL segment names (a positive integer), else null. */
export function prospectId(raw: string): number | null {
	return /^[1-9]\d{0,14}$/.test(raw) ? Number(raw) : null;
}

/** The prospect's attributes, or undefined when no prospect has that id. */
export function findProspect(world: World, id: number): Attributes | undefined {
	const stored = world.prospects.stored.get(id);
	if (stored) return stored;
	return id >= 1 && id <= world.prospects.seededRange ? {} : undefined;
}

/** No fault injected: what a reset and `{}` on /__fake/faults leave. */
export function noFaults(): Faults {
	return { status: null, latencyMs: 0, tokenAnswerLost: 0 };
}

/**
 * Writes the given attributes over the prospect's (only present attributes change), and logs each one as a
 * write, in the order given, for /__fake/writes.
 */
export function updateProspect(world: World, id: number, changes: Attributes, source: Pick<Write, "via" | "batchId" | "importId">): Attributes {
	const next = { ...findProspect(world, id), ...changes };
	world.prospects.stored.set(id, next);
	const now = Date.now();
	for (const [field, value] of Object.entries(changes)) world.writes.append({ prospectId: id, field, value, ...source }, now);
	return next;
}

/** Every prospect id, ascending: what a bulk request without ids or filter targets. */
export function allProspectIds(world: World): number[] {
	const { seededRange, stored } = world.prospects;
	const ids = Array.from({ length: seededRange }, (_, i) => i + 1);
	const extra = [...stored.keys()].filter((id) => id > seededRange).sort((a, b) => a - b);
	return extra.length ? ids.concat(extra) : ids;
}

/** The effective state of a token right now. */
export function tokenState(token: Token, now: number): "active" | "expired" | "revoked" | "used" {
	if (token.state !== "active") return token.state;
	return now >= token.expiresAt ? "expired" : "active";
}
