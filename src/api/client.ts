import { hc, type ClientResponse } from "hono/client";
import type { errorBody } from "../platform/errors";
import type { Problem } from "../http/validation";
import type { Principal } from "../auth/principal";
import { api, type AdminApi } from "./index";
import { inProcessPrincipals } from "./permissions";

/**
 * The admin API called in-process through Hono's typed client (`hc<AdminApi>` over the app's own fetch): no
 * network and no token: each request is registered with the `principal` it acts for (the signed-in person, or
 * the Worker itself), and the API's guard applies that principal's role exactly as for a network request. Request and answer types come from the
 * routes' validators and `c.json` answers, so a change to an answer is a type error in every caller — the
 * console and the alert evaluator — not a surprise at run time.
 */

export type { Problem };

export type ApiFailure = { ok: false; status: number; code: string; message: string; problems: Problem[] };
export type ApiResult<T> = { ok: true; status: number; data: T } | ApiFailure;

type ErrorEnvelope = ReturnType<typeof errorBody>;

function isProblemList(details: unknown): details is Problem[] {
	return Array.isArray(details) && details.every((p) => typeof p === "object" && p !== null && typeof p.path === "string" && typeof p.message === "string");
}

/** The answer as data, or the API's error envelope as a failure (with the 400's problems and their paths). */
async function result<T>(pending: Promise<ClientResponse<T>>): Promise<ApiResult<T>> {
	const res = await pending;
	const text = await res.text();
	let json: unknown = null;
	try {
		json = text ? JSON.parse(text) : null;
	} catch {
		/* not JSON: reported below */
	}
	if (res.ok) return { ok: true, status: res.status, data: json as T };
	const error = (json as Partial<ErrorEnvelope> | null)?.error;
	if (!error) return { ok: false, status: res.status, code: "unexpected", message: `The API answered ${res.status} without a readable error.`, problems: [] };
	const details: unknown = "details" in error ? error.details : undefined;
	return { ok: false, status: res.status, code: error.code, message: error.message, problems: isProblemList(details) ? details : [] };
}

/**
 * A client for the admin API as seen from `origin` (the console request's origin, so answers such as
 * `ingestUrl` name the address the user reached).
 */
export function apiClient(env: Env, origin: string, principal: Principal, ctx?: Parameters<typeof api.request>[3]) {
	const client = hc<AdminApi>(origin, {
		fetch: (input: RequestInfo | URL, init?: RequestInit) => {
			// One Request object, passed on as is (Hono copies a Request only when given init too).
			const request = new Request(input, init);
			inProcessPrincipals.set(request, principal);
			return api.request(request, undefined, env, ctx);
		},
	});
	const d = client.destinations;
	const one = (id: string) => ({ param: { id } });
	return {
		listDestinations: () => result(d.$get()),
		getDestination: (id: string) => result(d[":id"].$get(one(id))),
		createDestination: (json: { name: string; description: string }) => result(d.$post({ json })),
		updateDestination: (id: string, json: { name?: string; description?: string; enabled?: boolean }) => result(d[":id"].$patch({ ...one(id), json })),
		deleteDestination: (id: string) => result(d[":id"].$delete(one(id))),
		rotateIngestToken: (id: string) => result(d[":id"]["ingest-token"].$post(one(id))),
		connect: (id: string) => result(d[":id"].connect.$post(one(id))),
		disconnect: (id: string) => result(d[":id"].connection.$delete(one(id))),
		confirmConnection: (id: string) => result(d[":id"].connection.confirm.$post(one(id))),
		getMapping: (id: string) => result(d[":id"].mapping.$get(one(id))),
		// The console forwards what a person typed (a Mapping ID may be "abc"): the API's validator judges it.
		putMapping: (id: string, json: Typed<MappingInput>) => result(d[":id"].mapping.$put({ ...one(id), json: json as MappingInput })),
		verifyMapping: (id: string) => result(d[":id"].mapping.verify.$post(one(id))),
		getActivity: (id: string) => result(d[":id"].activity.$get(one(id))),
		getFailures: (id: string) => result(d[":id"].failures.$get(one(id))),
		replay: (id: string, ids?: string[]) => result(d[":id"].failures.replay.$post({ ...one(id), json: ids ? { ids } : {} })),
		getAlerts: (id: string) => result(d[":id"].alerts.$get(one(id))),
		putAlerts: (id: string, json: Typed<AlertsInput>) => result(d[":id"].alerts.$put({ ...one(id), json: json as AlertsInput })),
		testAlert: (id: string) => result(d[":id"].alerts.test.$post(one(id))),
		traceProspect: (id: string, prospectId: string) => result(d[":id"].prospects[":prospectId"].$get({ param: { id, prospectId } })),
		erase: (id: string, prospectIds: string[]) => result(d[":id"].erasures.$post({ ...one(id), json: { prospectIds } })),
		listAudit: (q: { destinationId?: string; limit?: string; before?: string }) => result(client.audit.$get({ query: q })),
		listKeys: () => result(client.keys.$get()),
		createKey: (json: { name: string; role: string }) => result(client.keys.$post({ json: json as { name: string; role: "view" } })),
		deleteKey: (id: string) => result(client.keys[":id"].$delete({ param: { id } })),
	};
}

export type ApiClient = ReturnType<typeof apiClient>;

type Client = ReturnType<typeof hc<AdminApi>>;
type Destinations = Client["destinations"][":id"];
/** What a PUT of the mapping takes (the API's own validator input). */
export type MappingInput = Parameters<Destinations["mapping"]["$put"]>[0]["json"];
export type AlertsInput = Parameters<Destinations["alerts"]["$put"]>[0]["json"];

/** A request body as a form produces it: the API's shape, where any number may still be the text typed. */
type Typed<T> = T extends number ? number | string : T extends (infer I)[] ? Typed<I>[] : T extends object ? { [K in keyof T]: Typed<T[K]> } : T;

/** The data a successful call answers, e.g. `ApiData<"getActivity">`. */
export type ApiData<K extends keyof ApiClient> = Extract<Awaited<ReturnType<ApiClient[K]>>, { ok: true }>["data"];

export type Destination = ApiData<"getDestination">;
export type Activity = ApiData<"getActivity">;
export type Counts = Activity["totals"];
export type Failure = ApiData<"getFailures">["failures"][number];
export type MappingAnswer = ApiData<"getMapping">;
export type VerifyAnswer = ApiData<"verifyMapping">;
export type AlertsAnswer = ApiData<"getAlerts">;
export type Trace = ApiData<"traceProspect">;
export type AuditAnswer = ApiData<"listAudit">;
