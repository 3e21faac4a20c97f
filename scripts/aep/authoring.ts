/**
 * The Destination SDK authoring API client behind `npm run aep -- publish|test`. Secrets come from the
 * environment and never appear in output: errors name the variable, never its value, and AEP's answers are
 * printed with anything token-like masked.
 */
import { z } from "zod";
import { buildBodies, type Aggregation } from "./package.ts";

export const AuthoringEnv = z.object({
	AEP_ACCESS_TOKEN: z.string({ error: "AEP_ACCESS_TOKEN is required: an IMS access token of a user with the Destination Authoring permission" }).min(1, "AEP_ACCESS_TOKEN is empty"),
	AEP_API_KEY: z.string({ error: "AEP_API_KEY is required: the API key (client id) of your Adobe Developer Console project" }).min(1, "AEP_API_KEY is empty"),
	AEP_ORG_ID: z.string({ error: "AEP_ORG_ID is required: your IMS organization id (…@AdobeOrg)" }).min(1, "AEP_ORG_ID is empty"),
	AEP_SANDBOX: z.string({ error: "AEP_SANDBOX is required: the sandbox name, e.g. prod" }).min(1, "AEP_SANDBOX is empty"),
	AEP_API_BASE: z.url({ error: "AEP_API_BASE must be a URL" }).default("https://platform.adobe.io"),
});
export type AuthoringEnv = z.infer<typeof AuthoringEnv>;

export function readAuthoringEnv(env: NodeJS.ProcessEnv = process.env): AuthoringEnv {
	const parsed = AuthoringEnv.safeParse(env);
	if (!parsed.success) throw new Error(parsed.error.issues.map((i) => i.message).join("; "));
	return parsed.data;
}

/** AEP's answer with secrets and token-like strings masked, for printing. */
export function redact(text: string, env: AuthoringEnv): string {
	let out = text;
	for (const secret of [env.AEP_ACCESS_TOKEN, env.AEP_API_KEY]) if (secret.length >= 4) out = out.split(secret).join("***");
	return out.replace(/(Bearer\s+)[^\s"']+/gi, "$1***");
}

const Listed = z.object({ items: z.array(z.looseObject({ instanceId: z.string(), name: z.string().optional() })).default([]) });
const Created = z.looseObject({ instanceId: z.string() });

export class AuthoringClient {
	readonly base: string;
	readonly env: AuthoringEnv;
	private readonly fetcher: typeof fetch;
	constructor(env: AuthoringEnv, fetcher: typeof fetch = fetch) {
		this.env = env;
		this.fetcher = fetcher;
		this.base = env.AEP_API_BASE.replace(/\/+$/, "") + "/data/core/activation/authoring";
	}

	async call(method: string, path: string, body?: unknown): Promise<unknown> {
		const res = await this.fetcher(this.base + path, {
			method,
			headers: {
				Authorization: `Bearer ${this.env.AEP_ACCESS_TOKEN}`,
				"x-api-key": this.env.AEP_API_KEY,
				"x-gw-ims-org-id": this.env.AEP_ORG_ID,
				"x-sandbox-name": this.env.AEP_SANDBOX,
				"Content-Type": "application/json",
			},
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await res.text();
		if (!res.ok) throw new Error(`AEP answered ${res.status} to ${method} ${path}: ${redact(text, this.env).slice(0, 2000)}`);
		return text ? JSON.parse(text) : null;
	}

	/** Creates or updates (found by name) one configuration; answers its id and what was done. */
	async upsert(kind: "destination-servers" | "destinations", body: { name?: unknown }): Promise<{ id: string; action: "created" | "updated" }> {
		const listed = Listed.parse(await this.call("GET", `/${kind}`));
		const same = listed.items.filter((i) => i.name === body.name);
		if (same.length > 1) throw new Error(`${same.length} ${kind} are named '${String(body.name)}' in this sandbox; delete all but one, then publish again`);
		if (same[0]) {
			await this.call("PUT", `/${kind}/${encodeURIComponent(same[0].instanceId)}`, body);
			return { id: same[0].instanceId, action: "updated" };
		}
		return { id: Created.parse(await this.call("POST", `/${kind}`, body)).instanceId, action: "created" };
	}

	/** Publishes the package: the destination server first (the configuration names its id), then the configuration. */
	async publish(aggregation: Aggregation = "configurable") {
		const server = await this.upsert("destination-servers", buildBodies(aggregation).destinationServer);
		const destination = await this.upsert("destinations", buildBodies(aggregation, server.id).destination);
		return { destinationServer: server, destination };
	}

	/** Runs AEP's destination test against a destination instance (a connection made in AEP's UI). */
	async test(instanceId: string, profiles?: unknown[]) {
		const Result = z.looseObject({
			results: z
				.array(
					z.looseObject({
						aggregationKey: z.unknown().optional(),
						httpCalls: z.array(z.looseObject({ traceId: z.string().optional(), request: z.unknown(), response: z.looseObject({ status: z.number().optional() }).optional() })).default([]),
					}),
				)
				.default([]),
		});
		return Result.parse(await this.call("POST", `/testing/destinationInstance/${encodeURIComponent(instanceId)}`, profiles ? { profiles } : {}));
	}
}
