import { SELF } from "cloudflare:test";
import { adminJson } from "./control";

/** A principal a test calls the API as: the owner (ADMIN_TOKEN), an API key's role, or no key at all. */
export type Caller = "owner" | "view" | "activate" | "manage" | "none";

export type CreatedKey = { id: string; name: string; role: string; key: string; createdAt: string };

/** Creates an API key with `role` as the owner; answers it with the one-time `key`. */
export function createKey(role: "view" | "activate" | "manage", name = `${role} key`): Promise<CreatedKey> {
	return adminJson<CreatedKey>("/api/keys", { method: "POST", json: { name, role } }, 201);
}

/** Calls the Worker's API with `token` as the bearer (none: no Authorization header). */
export function callAs(token: string | null, path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
	const { json, headers, ...rest } = init;
	const h = new Headers(headers);
	if (token !== null) h.set("Authorization", `Bearer ${token}`);
	if (json !== undefined) h.set("Content-Type", "application/json");
	return SELF.fetch(`http://localhost${path}`, { ...rest, headers: h, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
}
