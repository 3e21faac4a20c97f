import { randomToken, sha256Hex } from "../platform/crypto";
import type { ApiKeyInfo } from "./principal";
import { sessionsStub } from "./sessions";

/**
 * API keys: `aok_<id>_<secret>`, the id public (it names the key in lists and the audit log), the secret 256
 * random bits. Only SHA-256 of the whole key is stored (src/auth/sessions.ts, table `api_keys`): a key this
 * random cannot be found from its hash by guessing, so a slow password hash would buy nothing. The stored
 * hash is compared in constant time after the row is found by its id.
 *
 * Keys live in the one `Sessions` Durable Object (not KV), so a deleted key stops working on its next
 * request everywhere — KV would keep serving it from caches for up to a minute.
 */

export const KEY_PREFIX = "aok_";
const KEY_SHAPE = /^aok_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export type { ApiKeyInfo };

/** A new key and what to store of it; the key itself is returned once and never stored. */
export async function newApiKey(): Promise<{ id: string; key: string; hash: string }> {
	const id = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
	const key = `${KEY_PREFIX}${id}_${randomToken(32)}`;
	return { id, key, hash: await sha256Hex(key) };
}

/** True when `presented` looks like an API key (so it is checked as one, not as the admin token). */
export function looksLikeApiKey(presented: string): boolean {
	return presented.startsWith(KEY_PREFIX);
}

/** The key's id and role when `presented` is a live key (and notes its use), else null. */
export async function verifyApiKey(env: Env, presented: string): Promise<ApiKeyInfo | null> {
	const m = KEY_SHAPE.exec(presented);
	if (!m) return null;
	return sessionsStub(env).useKey(m[1]!, await sha256Hex(presented), Date.now());
}
