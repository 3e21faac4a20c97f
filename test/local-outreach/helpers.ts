import { env } from "cloudflare:test";
import { expect, vi } from "vitest";

// The local Outreach under test runs in Node (each test runtime has its own: vitest.config.ts); these tests run in workerd and
// reach it over HTTP, exactly as the Worker does.

export const base = env.OUTREACH_API_BASE;
export const CLIENT_ID = "local-client";
export const CLIENT_SECRET = "local-secret";
export const REDIRECT_URI = "http://localhost:8787/oauth/callback";
export const ALL_SCOPES = "prospects.read prospects.write users.read";
export const JSON_API = "application/vnd.api+json";

export type TokenSet = {
	access_token: string;
	token_type: string;
	expires_in: number;
	refresh_token: string;
	scope: string;
	created_at: number;
};
export type ApiError = { id: string; title: string; detail: string; source?: { pointer: string } };
export type Write = { at: number; prospectId: number; field: string; value: unknown; via: "patch" | "bulk" | "import"; batchId?: number; importId?: number };

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function control(path: string, body: unknown): Promise<void> {
	const res = await fetch(`${base}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
	expect(res.status, await res.clone().text()).toBe(200);
	expect(await res.json()).toEqual({ ok: true });
}

/** POST /__fake/reset with optional settings. */
export const reset = (settings: Record<string, unknown> = {}) => control("/__fake/reset", settings);
/** POST /__fake/faults. */
export const setFaults = (faults: Record<string, unknown>) => control("/__fake/faults", faults);

/** What GET /__fake/stats answers. */
export type FakeStats = {
	requests: Record<string, Record<string, number>>;
	status429: number;
	usage: { userId: number; windowStart: number; count: number }[];
	tokenGrants: { authorization_code: number; refresh_token: number };
	bulk: { requests: number; items: number; unfilteredRequests: number; quota429: number };
	imports: { requests: number; records: number; created: number; quota429: number };
};

/** GET /__fake/stats. */
export const fakeStats = () => peek<FakeStats>("/__fake/stats");

/** GET a /__fake/* route's JSON. */
export async function peek<T>(path: string): Promise<T> {
	const res = await fetch(`${base}${path}`);
	expect(res.status).toBe(200);
	return (await res.json()) as T;
}

export type SignInFields = {
	clientId: string;
	redirectUri: string;
	scope: string;
	state: string;
	email: string;
	password: string;
	decision: "approve" | "decline";
};

/** Submits the sign-in form (without following the redirect). */
export function submitSignIn(fields: Partial<SignInFields> = {}): Promise<Response> {
	const f = { clientId: CLIENT_ID, redirectUri: REDIRECT_URI, scope: ALL_SCOPES, state: "st4te", email: "rep@example.com", password: "outreach", decision: "approve", ...fields };
	const form = new URLSearchParams({
		client_id: f.clientId,
		redirect_uri: f.redirectUri,
		response_type: "code",
		scope: f.scope,
		state: f.state,
		email: f.email,
		password: f.password,
		decision: f.decision,
	});
	return fetch(`${base}/oauth/authorize`, { method: "POST", body: form, redirect: "manual" });
}

/** Signs in and approves; answers the authorization code from the redirect. */
export async function signInCode(fields: Partial<SignInFields> = {}): Promise<string> {
	const res = await submitSignIn(fields);
	expect(res.status).toBe(302);
	const code = new URL(res.headers.get("Location")!).searchParams.get("code");
	expect(code).toBeTruthy();
	return code!;
}

/** POST /oauth/token, form-encoded, with the registered client's credentials unless overridden. */
export function tokenRequest(params: Record<string, string>): Promise<Response> {
	const form = new URLSearchParams({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, ...params });
	return fetch(`${base}/oauth/token`, { method: "POST", body: form });
}

export function exchangeCode(code: string, params: Record<string, string> = {}): Promise<Response> {
	return tokenRequest({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, ...params });
}

export function refreshTokens(refreshToken: string, params: Record<string, string> = {}): Promise<Response> {
	return tokenRequest({ grant_type: "refresh_token", refresh_token: refreshToken, ...params });
}

/** Signs in as the seeded rep (or as `fields` say) and exchanges the code: a fresh token set. */
export async function signIn(fields: Partial<SignInFields> = {}): Promise<TokenSet> {
	const res = await exchangeCode(await signInCode(fields), fields.redirectUri ? { redirect_uri: fields.redirectUri } : {});
	expect(res.status).toBe(200);
	return (await res.json()) as TokenSet;
}

/** An /api/v2 request with a bearer token. */
export function api(token: string | null, method: string, path: string, init: { body?: string; contentType?: string } = {}): Promise<Response> {
	const headers: Record<string, string> = {};
	if (token !== null) headers.Authorization = `Bearer ${token}`;
	if (init.contentType) headers["Content-Type"] = init.contentType;
	return fetch(`${base}/api/v2${path}`, { method, headers, body: init.body });
}

/** PATCH /api/v2/prospects/:id with a well-formed document unless `doc` overrides its parts. */
export function patchProspect(
	token: string | null,
	id: number | string,
	attributes: Record<string, unknown>,
	doc: { type?: unknown; id?: unknown; contentType?: string } = {},
): Promise<Response> {
	const data = { type: "type" in doc ? doc.type : "prospect", id: "id" in doc ? doc.id : Number(id), attributes };
	return api(token, "PATCH", `/prospects/${id}`, { body: JSON.stringify({ data }), contentType: doc.contentType ?? JSON_API });
}

/** The JSON:API errors of a response. */
export async function errorsOf(res: Response): Promise<ApiError[]> {
	const body = (await res.json()) as { errors: ApiError[] };
	expect(Array.isArray(body.errors)).toBe(true);
	return body.errors;
}

/** The `data` of a JSON:API document answered 200. */
export async function dataOf<T>(res: Response): Promise<T> {
	expect(res.status, await res.clone().text()).toBe(200);
	expect(res.headers.get("Content-Type")).toBe(JSON_API);
	return ((await res.json()) as { data: T }).data;
}

/**
 * Asserts the 429 of a spent daily quota (bulk items, import records) answered to the user's second call of a
 * fresh window: its own error id, none of the hourly limit's (no "rate limit" message, no Retry-After), and
 * not counted against the window. Answers its detail.
 */
export async function expectQuota429(res: Response, id: string): Promise<string> {
	const [error] = await expectError(res, 429, id);
	expect(error!.detail).not.toMatch(/rate limit/);
	expect(res.headers.get("Retry-After")).toBeNull();
	expect(res.headers.get("X-RateLimit-Remaining")).toBe(String(9999));
	const stats = await fakeStats();
	expect(stats.usage[0]!.count).toBe(1);
	expect(stats.status429).toBe(1);
	return error!.detail;
}

/** Asserts a JSON:API error response with this status and first error id; answers its errors. */
export async function expectError(res: Response, status: number, id: string): Promise<ApiError[]> {
	expect(res.status).toBe(status);
	const errors = await errorsOf(res);
	expect(errors[0]?.id).toBe(id);
	return errors;
}

// The bulk API.

/** What a destination with `bulkApi: true` asks for at connect. */
export const BULK_SCOPES = `${ALL_SCOPES} batches.read batches.write`;

export type BatchResource = {
	type: "batch";
	id: number;
	attributes: {
		action: string;
		state: string;
		total: number;
		pending: number;
		failures: number;
		createdAt: string;
		startedAt: string | null;
		finishedAt: string | null;
		canceledAt: string | null;
		updatedAt: string;
	};
	links: { self: string };
};
export type BatchItemResource = {
	type: "batchItem";
	id: number;
	attributes: { batchId: number; prospectId: number; state: string; failed: boolean; info: string | null };
};
export type ItemsPage = { data: BatchItemResource[]; links: { next?: string }; meta: { count: number } };

/** POST /batches/actions/prospectsBulkModify with the single-field body; `query` is e.g. "?filter[id]=1,2". */
export function bulkModify(
	token: string | null,
	attributes: Record<string, unknown>,
	init: { query?: string; contentType?: string } = {},
): Promise<Response> {
	return api(token, "POST", `/batches/actions/prospectsBulkModify${init.query ?? ""}`, {
		body: JSON.stringify({ data: { attributes } }),
		contentType: init.contentType ?? JSON_API,
	});
}

/** Sends a bulk modify that must be accepted; answers the new batch. */
export async function createBatch(token: string, attributes: Record<string, unknown>, query = ""): Promise<BatchResource> {
	return dataOf(await bulkModify(token, attributes, { query }));
}

/** GET /batches/:id (a counted API call); answers the batch. */
export async function getBatch(token: string, id: number): Promise<BatchResource> {
	return dataOf(await api(token, "GET", `/batches/${id}`));
}

/** Reads every `everyMs` until `done` says so (at most `timeoutMs`); answers the last reading. */
async function pollUntil<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, { timeoutMs = 10_000, everyMs = 25 } = {}): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await read();
		if (done(value)) return value;
		if (Date.now() > deadline) throw new Error(`${what} did not get there in ${timeoutMs} ms: ${JSON.stringify(value)}`);
		await sleep(everyMs);
	}
}

/** Polls the batch every `everyMs` until `done` says so (at most `timeoutMs`); answers its last reading. */
export function waitForBatch(
	token: string,
	id: number,
	done: (batch: BatchResource) => boolean = (b) => b.attributes.state === "finished",
	options: { timeoutMs?: number; everyMs?: number } = {},
): Promise<BatchResource> {
	return pollUntil(`batch ${id}`, () => getBatch(token, id), done, options);
}

// Imports.

/** What a destination with `bulkApi: true` asks for at connect once it sends attributes by import. */
export const IMPORT_SCOPES = `${ALL_SCOPES} imports.read imports.write`;

export type FailedRecord = { index: number; id: unknown; reason: string };
export type ImportResource = {
	type: "import";
	id: number;
	attributes: {
		dupeMethod: string;
		fileName: string | null;
		state: string;
		total: number;
		failures: number;
		dupes: number;
		errorReason: string | null;
		failedRecords?: FailedRecord[];
		createdAt: string;
		stateChangedAt: string;
		updatedAt: string;
	};
	relationships: { creator: { data: { type: "user"; id: number } } };
	links: { self: string };
};

/** A prospect record as bulkUpsert takes it. */
export const record = (id: unknown, attributes: Record<string, unknown>) => ({ type: "prospect", id, attributes });

/** POST /imports/actions/bulkUpsert with `records` (dupeMethod overwriteNoCreate unless `attributes` says otherwise). */
export function bulkUpsert(
	token: string | null,
	records: unknown[],
	init: { attributes?: Record<string, unknown>; contentType?: string } = {},
): Promise<Response> {
	const body = { data: { type: "import", attributes: { dupeMethod: "overwriteNoCreate", records, ...init.attributes } } };
	return api(token, "POST", "/imports/actions/bulkUpsert", { body: JSON.stringify(body), contentType: init.contentType ?? JSON_API });
}

/** Sends a bulkUpsert that must be accepted; answers the new import. */
export async function createImport(token: string, records: unknown[], attributes: Record<string, unknown> = {}): Promise<ImportResource> {
	return dataOf(await bulkUpsert(token, records, { attributes }));
}

/** GET /imports/:id (a counted API call); answers the import. */
export async function getImport(token: string, id: number): Promise<ImportResource> {
	return dataOf(await api(token, "GET", `/imports/${id}`));
}

/** Polls the import every `everyMs` until `done` says so (at most `timeoutMs`); answers its last reading. */
export function waitForImport(
	token: string,
	id: number,
	done: (imp: ImportResource) => boolean = (i) => i.attributes.state === "finished",
	options: { timeoutMs?: number; everyMs?: number } = {},
): Promise<ImportResource> {
	return pollUntil(`import ${id}`, () => getImport(token, id), done, options);
}

/** The states a batch or an import goes through, from its first reading until `wait` (polling with `done`) sees it finished. */
export async function statesUntilFinished<R extends { attributes: { state: string } }>(first: R, wait: (done: (r: R) => boolean) => Promise<R>): Promise<string[]> {
	const seen = [first.attributes.state];
	await wait((r) => {
		if (seen.at(-1) !== r.attributes.state) seen.push(r.attributes.state);
		return r.attributes.state === "finished";
	});
	return seen;
}

/** GET /__fake/writes, all or since `since`. */
export async function writesLog(since?: number): Promise<Write[]> {
	return (await peek<{ writes: Write[] }>(`/__fake/writes${since === undefined ? "" : `?since=${since}`}`)).writes;
}

/**
 * Resets once the running batch or import has applied something, then proves the reset stopped it: nothing
 * lands afterwards and the write log stays empty.
 */
export async function resetWhileApplying(): Promise<void> {
	await vi.waitUntil(async () => (await writesLog()).length > 0, { timeout: 10_000, interval: 20 });
	await reset();
	const after = Date.now();
	await sleep(300);
	expect(await writesLog(after)).toEqual([]);
	expect(await writesLog()).toEqual([]);
}
