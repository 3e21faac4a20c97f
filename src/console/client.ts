import { z } from "zod";
import { api } from "../api/index";

/**
 * The admin API, called in-process (no network, no token: /api auth is applied by src/app.ts only), so the
 * console and the alert evaluator render what the API answers and never re-implement one of its rules.
 * Answers are parsed with tolerant schemas: an unexpected shape becomes a visible error, not a crash.
 */

/** Epoch ms from whatever the API uses for instants (ISO string or epoch ms); null when absent. */
export const Instant = z
	.union([z.number(), z.string(), z.null()])
	.optional()
	.transform((v) => {
		if (v === null || v === undefined || v === "") return null;
		const ms = typeof v === "number" ? v : Date.parse(v);
		return Number.isFinite(ms) ? ms : null;
	});

export const Destination = z.object({
	id: z.string(),
	name: z.string(),
	description: z.string().nullish().transform((d) => d ?? ""),
	enabled: z.boolean(),
	status: z.string(),
	statusReason: z.string().optional(),
	outreachUser: z.object({ id: z.number(), email: z.string() }).nullish().transform((u) => u ?? null),
	ingestUrl: z.string(),
	createdAt: z.string(),
});
export type Destination = z.infer<typeof Destination>;

const DestinationList = z.union([z.array(Destination), z.object({ destinations: z.array(Destination) }).transform((l) => l.destinations)]);
const CreatedDestination = z.union([
	Destination.extend({ ingestToken: z.string() }),
	z.object({ destination: Destination, ingestToken: z.string() }).transform((r) => ({ ...r.destination, ingestToken: r.ingestToken })),
]);

const count = z.number().default(0);
export const Counts = z.object({
	received: count,
	rejected: count,
	skipped: count,
	pending: count,
	delivered: count,
	failed: count,
	superseded: count,
});
export type Counts = z.infer<typeof Counts>;

export const Activity = z.object({
	totals: Counts,
	segments: z.array(Counts.extend({ segmentId: z.string(), mappingId: z.number().nullish(), name: z.string().nullish() })).default([]),
	hours: z.array(Counts.extend({ hour: Instant })).default([]),
	budget: z
		.object({
			limit: z.number(),
			windowSeconds: z.number(),
			usedInWindow: z.number(),
			pausedUntil: Instant,
			oldestPendingAt: Instant,
		})
		.partial()
		.default({}),
	recentErrors: z.array(z.unknown()).default([]),
});
export type Activity = z.infer<typeof Activity>;

export const Failure = z.object({
	id: z.string(),
	prospectId: z.union([z.number(), z.string()]).nullish(),
	fields: z.array(z.string()).nullish().transform((f) => f ?? []),
	reason: z.string().nullish().transform((r) => r ?? ""),
	status: z.string().nullish(),
	firstFailedAt: Instant,
	attempts: z.number().nullish(),
});
export type Failure = z.infer<typeof Failure>;

export const MappingAnswer = z.object({
	identityNamespace: z.string(),
	attributes: z.array(z.object({ source: z.string(), target: z.string() })).default([]),
	segments: z.array(z.object({ segmentId: z.string(), mappingId: z.number(), name: z.string().nullish() })).default([]),
	statusValues: z.object({ realized: z.string().optional(), existing: z.string().optional(), exited: z.string().optional() }).partial().nullish(),
});
export type MappingAnswer = z.infer<typeof MappingAnswer>;

const VerifyAnswer = z.object({
	ok: z.boolean(),
	problems: z.array(z.object({ mappingId: z.number().optional(), field: z.string().optional(), word: z.string().optional(), message: z.string() })).default([]),
});
export type VerifyAnswer = z.infer<typeof VerifyAnswer>;

export const AlertConditions = z.object({
	connectionLost: z.boolean(),
	failureRatePercent: z.number().nullable(),
	pendingOlderThanMinutes: z.number().nullable(),
});
const AlertConditionState = z.object({ active: z.boolean(), since: z.number().optional(), lastSentAt: z.number().optional(), detail: z.string().optional() });
export const AlertsAnswer = z.object({
	webhookUrl: z.string().nullable(),
	conditions: AlertConditions,
	state: z.record(z.string(), AlertConditionState).optional(),
});
export type AlertsAnswer = z.infer<typeof AlertsAnswer>;

/** One problem the API reported, with its dotted path (e.g. `segments.0.mappingId`) when it has one. */
export type Problem = { path: string; message: string };

export type ApiFailure = { ok: false; status: number; code: string; message: string; problems: Problem[] };
export type ApiResult<T> = { ok: true; status: number; data: T } | ApiFailure;

function pathString(path: unknown): string {
	if (Array.isArray(path)) return path.map(String).join(".");
	if (typeof path === "string") return path.replace(/\[(\d+)\]/g, ".$1").replace(/^\$?\.?/, "");
	return "";
}

function toProblem(item: unknown): Problem | null {
	if (typeof item === "string") return { path: "", message: item };
	if (typeof item !== "object" || item === null) return null;
	const o = item as Record<string, unknown>;
	const message = [o.message, o.problem, o.error, o.detail].find((m): m is string => typeof m === "string");
	if (!message) return null;
	return { path: pathString(o.path ?? o.field ?? o.pointer), message };
}

/** Reads a list of problems out of an API answer, whatever key it is under. */
export function findProblemList(raw: unknown): Problem[] {
	if (Array.isArray(raw)) return raw.map(toProblem).filter((p): p is Problem => p !== null);
	if (typeof raw !== "object" || raw === null) return [];
	const o = raw as Record<string, unknown>;
	for (const key of ["problems", "details", "issues", "errors"]) {
		if (Array.isArray(o[key])) return findProblemList(o[key]);
	}
	return [];
}

const ErrorEnvelope = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) });

export type ApiClient = ReturnType<typeof apiClient>;

/**
 * A client for the admin API at `origin` (the console request's origin, so answers such as `ingestUrl`
 * name the address the user reached).
 */
export function apiClient(env: Env, origin: string, ctx?: Parameters<typeof api.request>[3]) {
	async function call<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<ApiResult<z.output<S>>> {
		const init: RequestInit = { method, headers: { accept: "application/json" } };
		if (body !== undefined) {
			init.body = JSON.stringify(body);
			init.headers = { accept: "application/json", "content-type": "application/json" };
		}
		const res = await api.request(`${origin}${path}`, init, env, ctx);
		const text = await res.text();
		let json: unknown = null;
		try {
			json = text ? JSON.parse(text) : null;
		} catch {
			/* not JSON: reported below */
		}
		if (!res.ok) {
			const env = ErrorEnvelope.safeParse(json);
			if (env.success)
				return { ok: false, status: res.status, code: env.data.error.code, message: env.data.error.message, problems: findProblemList(env.data.error.details) };
			return { ok: false, status: res.status, code: "unexpected", message: `The API answered ${res.status} without a readable error.`, problems: [] };
		}
		const parsed = schema.safeParse(json);
		if (!parsed.success)
			return {
				ok: false,
				status: 502,
				code: "unexpected_shape",
				message: `The API answered ${method} ${path} in an unexpected shape (${parsed.error.issues[0]?.path.join(".") ?? ""}: ${parsed.error.issues[0]?.message ?? ""}).`,
				problems: [],
			};
		return { ok: true, status: res.status, data: parsed.data };
	}
	const d = (id: string) => `/destinations/${encodeURIComponent(id)}`;
	return {
		listDestinations: () => call("GET", "/destinations", DestinationList),
		getDestination: (id: string) => call("GET", d(id), Destination),
		createDestination: (body: { name: string; description: string }) => call("POST", "/destinations", CreatedDestination, body),
		updateDestination: (id: string, body: { name?: string; description?: string; enabled?: boolean }) => call("PATCH", d(id), Destination, body),
		deleteDestination: (id: string) => call("DELETE", d(id), z.unknown()),
		rotateIngestToken: (id: string) => call("POST", `${d(id)}/ingest-token`, z.object({ ingestToken: z.string() })),
		connect: (id: string) => call("POST", `${d(id)}/connect`, z.object({ authorizeUrl: z.string() })),
		disconnect: (id: string) => call("DELETE", `${d(id)}/connection`, z.unknown()),
		getMapping: (id: string) => call("GET", `${d(id)}/mapping`, MappingAnswer),
		putMapping: (id: string, body: unknown) =>
			call("PUT", `${d(id)}/mapping`, MappingAnswer.extend({ warnings: z.array(z.object({ path: z.string(), message: z.string() })).default([]) }), body),
		verifyMapping: (id: string) => call("POST", `${d(id)}/mapping/verify`, VerifyAnswer),
		getActivity: (id: string) => call("GET", `${d(id)}/activity`, Activity),
		getFailures: (id: string) => call("GET", `${d(id)}/failures`, z.object({ failures: z.array(Failure) })),
		replay: (id: string, ids?: string[]) => call("POST", `${d(id)}/failures/replay`, z.object({ replayed: z.number() }), ids ? { ids } : {}),
		getAlerts: (id: string) => call("GET", `${d(id)}/alerts`, AlertsAnswer),
		putAlerts: (id: string, body: unknown) => call("PUT", `${d(id)}/alerts`, AlertsAnswer, body),
		testAlert: (id: string) => call("POST", `${d(id)}/alerts/test`, z.object({ sent: z.boolean(), status: z.number().optional() })),
	};
}
