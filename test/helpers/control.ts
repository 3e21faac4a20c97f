import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";
import type { DestinationView } from "../../src/destinations/records";
import { gateStub } from "../../src/gate/gate";
import type { AccessResult } from "../../src/gate/tokens";
import { resetAudit } from "./audit";

/**
 * Helpers for tests that need the control plane: the admin API, a connected destination, and the local
 * Outreach's control routes. Every call goes through the Worker (`SELF.fetch`) or the local Outreach's HTTP
 * API, as a real operator's would.
 */

const WORKER = "http://localhost";

/** The seeded Outreach user of the local Outreach. */
export const REP = { id: 1, email: "rep@example.com", password: "outreach" } as const;

// ─── the Worker's admin API ─────────────────────────────────────────────────────────────────────────────

/**
 * Calls the Worker's admin API with `Authorization: Bearer <ADMIN_TOKEN>`. `path` starts with `/api/…`; a
 * plain-object `json` is sent as the JSON body.
 * @example const res = await admin("/api/destinations", { method: "POST", json: { name: "EU" } });
 */
export function admin(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
	const { json, headers, ...rest } = init;
	const h = new Headers(headers);
	if (!h.has("Authorization")) h.set("Authorization", `Bearer ${env.ADMIN_TOKEN}`);
	if (json !== undefined) h.set("Content-Type", "application/json");
	return SELF.fetch(`${WORKER}${path}`, { ...rest, headers: h, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
}

/** `admin(...)`, expecting `status` (default 200), answering the parsed JSON body. */
export async function adminJson<T = Record<string, unknown>>(path: string, init: RequestInit & { json?: unknown } = {}, status = 200): Promise<T> {
	const res = await admin(path, init);
	const text = await res.text();
	expect(res.status, `${init.method ?? "GET"} ${path} answered ${res.status}: ${text}`).toBe(status);
	return (text ? JSON.parse(text) : undefined) as T;
}

export type CreatedDestination = DestinationView & { ingestToken: string };

/** Creates a destination through the admin API; answers its view plus the one-time `ingestToken`. */
export function createDestination(body: { name?: string; description?: string } = {}): Promise<CreatedDestination> {
	return adminJson<CreatedDestination>("/api/destinations", { method: "POST", json: { name: "Test destination", ...body } }, 201);
}

/** The destination as `GET /api/destinations/:id` shows it. */
export function getDestination(id: string): Promise<DestinationView> {
	return adminJson<DestinationView>(`/api/destinations/${id}`);
}

// ─── the OAuth connection ───────────────────────────────────────────────────────────────────────────────

/** `POST /api/destinations/:id/connect` → Outreach's authorize URL (with a fresh state). */
export async function startConnect(id: string): Promise<string> {
	const { authorizeUrl } = await adminJson<{ authorizeUrl: string }>(`/api/destinations/${id}/connect`, { method: "POST" });
	return authorizeUrl;
}

/**
 * Signs in at the local Outreach's form for `authorizeUrl` (GET the form, POST it back with the
 * credentials and `decision`), answering the URL Outreach redirects to: our callback with `code` and
 * `state`, or with `error=access_denied` on "decline".
 */
export async function signIn(
	authorizeUrl: string,
	opts: { email?: string; password?: string; decision?: "approve" | "decline" } = {},
): Promise<string> {
	const page = await fetch(authorizeUrl);
	const html = await page.text();
	expect(page.status, `the sign-in form answered ${page.status}: ${html}`).toBe(200);
	const form = new URLSearchParams(hiddenInputs(html));
	form.set("email", opts.email ?? REP.email);
	form.set("password", opts.password ?? REP.password);
	form.set("decision", opts.decision ?? "approve");
	const action = /<form[^>]*action="([^"]+)"/i.exec(html)?.[1] ?? "/oauth/authorize";
	const res = await fetch(new URL(unescapeHtml(action), authorizeUrl), { method: "POST", body: form, redirect: "manual" });
	const location = res.headers.get("Location");
	expect(res.status, `signing in answered ${res.status}: ${await res.text()}`).toBe(302);
	return location!;
}

/** Follows Outreach's redirect to our `/oauth/callback` through the Worker (`Accept: application/json` with `json`). */
export function callback(redirectUrl: string, opts: { json?: boolean; headers?: HeadersInit } = {}): Promise<Response> {
	const url = new URL(redirectUrl);
	const headers = new Headers(opts.headers);
	if (opts.json) headers.set("Accept", "application/json");
	return SELF.fetch(`${WORKER}${url.pathname}${url.search}`, { headers, redirect: "manual" });
}

/**
 * Runs the whole connect flow against the local Outreach as an admin does through the API — connect → sign
 * in at its form → our callback (which, for a flow started through the API, waits for confirmation) → confirm
 * — and answers the destination as the confirmation reports it (`status: "connected"`).
 */
export async function connectDestination(id: string, opts: { email?: string; password?: string } = {}): Promise<DestinationView> {
	const redirect = await signIn(await startConnect(id), opts);
	const res = await callback(redirect, { json: true });
	const body = (await res.json()) as { connected: boolean; destination: DestinationView };
	expect(res.status, `the callback answered ${res.status}: ${JSON.stringify(body)}`).toBe(200);
	expect(body.connected).toBe(false);
	expect(body.destination.status).toBe("confirmation_required");
	return confirmConnection(id);
}

/** `POST /api/destinations/:id/connection/confirm`: the admin confirms who completed the sign-in. */
export function confirmConnection(id: string): Promise<DestinationView> {
	return adminJson<DestinationView>(`/api/destinations/${id}/connection/confirm`, { method: "POST" });
}

/** Creates a destination and connects it as the seeded user; answers it connected, with its ingest token. */
export async function createConnectedDestination(body: { name?: string } = {}): Promise<CreatedDestination> {
	const created = await createDestination(body);
	const connected = await connectDestination(created.id);
	return { ...connected, ingestToken: created.ingestToken };
}

/** The gate's answer for the destination's access token (the gate of the seeded user unless `gate` says). */
export function gateAccessToken(destinationId: string, opts: { rejected?: string; gate?: string } = {}): Promise<AccessResult> {
	return gateStub(env, opts.gate ?? repGate()).accessToken(destinationId, opts.rejected);
}

/** The gate of the seeded user: named by the Outreach user's id. */
export function repGate(): string {
	return String(REP.id);
}

// ─── the local Outreach's control routes ────────────────────────────────────────────────────────────────

type FakeTokens = { tokens: { type: "access" | "refresh"; value: string; userId: number; state: "active" | "expired" | "revoked" | "used" }[] };
type FakeStats = {
	requests: Record<string, Record<string, number>>;
	status429: number;
	usage: { userId: number; windowStart: number; count: number }[];
	tokenGrants: { authorization_code: number; refresh_token: number };
};

async function outreachControl<T>(path: string, body?: unknown): Promise<T> {
	const res = await fetch(`${env.OUTREACH_API_BASE}/__fake${path}`, {
		method: body === undefined ? "GET" : "POST",
		...(body === undefined ? {} : { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }),
	});
	const text = await res.text();
	expect(res.status, `/__fake${path} answered ${res.status}: ${text}`).toBe(200);
	return JSON.parse(text) as T;
}

/** `POST /__fake/reset` with optional settings (`accessTokenTtlSeconds`, `fieldRules`, `users`, …). */
export const resetOutreach = (settings: Record<string, unknown> = {}) => {
	resetAudit(); // the write log is cleared with everything else
	return outreachControl<{ ok: true }>("/reset", settings);
};
/** `POST /__fake/faults`, e.g. `{ revokeAllTokens: true }` or `{ status: 503, count: 2 }`; `{}` clears all. */
export const outreachFaults = (faults: Record<string, unknown>) => outreachControl<{ ok: true }>("/faults", faults);
export const outreachStats = () => outreachControl<FakeStats>("/stats");
/** Every token the local Outreach minted, with its state — to prove none is stored in plaintext. */
export const outreachTokens = () => outreachControl<FakeTokens>("/tokens");

// ─── small things ───────────────────────────────────────────────────────────────────────────────────────

function unescapeHtml(s: string): string {
	return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** The hidden inputs of an HTML form as [name, value] pairs. */
function hiddenInputs(html: string): [string, string][] {
	const out: [string, string][] = [];
	for (const tag of html.match(/<input\b[^>]*>/gi) ?? []) {
		if (!/type="hidden"/i.test(tag)) continue;
		const name = /name="([^"]*)"/i.exec(tag)?.[1];
		const value = /value="([^"]*)"/i.exec(tag)?.[1] ?? "";
		if (name) out.push([unescapeHtml(name), unescapeHtml(value)]);
	}
	return out;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
