/** Small WebCrypto helpers shared by ingest tokens, OAuth state, sessions and token encryption. */

import { ConfigError } from "./config";

const encoder = new TextEncoder();

export function base64url(bytes: Uint8Array): string {
	let s = "";
	for (const b of bytes) s += String.fromCharCode(b);
	return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A random token of `bytes` bytes (default 32 = 256 bits), base64url. */
export function randomToken(bytes = 32): string {
	return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function sha256Hex(value: string): Promise<string> {
	const digest = await crypto.subtle.digest("SHA-256", encoder.encode(value));
	return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Constant-time string comparison (hashes both sides first so lengths leak nothing). */
export async function timingSafeEqualString(a: string, b: string): Promise<boolean> {
	const [ha, hb] = await Promise.all([a, b].map((s) => crypto.subtle.digest("SHA-256", encoder.encode(s))));
	return crypto.subtle.timingSafeEqual(ha!, hb!);
}

// ─── Keys derived from TOKEN_ENCRYPTION_KEY ──────────────────────────────────────────────────────────────
// One secret, many purposes: every key is derived from TOKEN_ENCRYPTION_KEY with HKDF-SHA256 and a purpose
// label, so the token-encryption key and the console's session-signing key can never be mixed up.

const KEY_BYTES = 32;
const HKDF_SALT = encoder.encode("aep-outreach-destination/v1");

export function base64urlDecode(value: string): Uint8Array {
	const b64 = value.replace(/-/g, "+").replace(/_/g, "/");
	return base64Decode(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
}

export function base64Decode(value: string): Uint8Array {
	const bin = atob(value);
	const out = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
	return out;
}

/** The 32 bytes of TOKEN_ENCRYPTION_KEY; throws a ConfigError (a clear 500 in errors.ts) saying how to fix it. */
export function masterKeyBytes(env: Pick<Env, "TOKEN_ENCRYPTION_KEY">): Uint8Array {
	const raw = env.TOKEN_ENCRYPTION_KEY;
	const fix = "Set it to base64 of 32 random bytes, e.g. `openssl rand -base64 32 | wrangler secret put TOKEN_ENCRYPTION_KEY` (locally in .dev.vars).";
	if (typeof raw !== "string" || raw.trim() === "") throw new ConfigError(`TOKEN_ENCRYPTION_KEY is not set. ${fix}`);
	let bytes: Uint8Array;
	try {
		bytes = base64Decode(raw.trim());
	} catch {
		throw new ConfigError(`TOKEN_ENCRYPTION_KEY is not valid base64. ${fix}`);
	}
	if (bytes.length !== KEY_BYTES)
		throw new ConfigError(`TOKEN_ENCRYPTION_KEY decodes to ${bytes.length} bytes; it must be exactly ${KEY_BYTES}. ${fix}`);
	return bytes;
}

const hkdfBase = new Map<string, Promise<CryptoKey>>();

function masterKey(env: Pick<Env, "TOKEN_ENCRYPTION_KEY">): Promise<CryptoKey> {
	const bytes = masterKeyBytes(env); // validates first, so a bad key always fails loudly
	let key = hkdfBase.get(env.TOKEN_ENCRYPTION_KEY);
	if (!key) {
		key = crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveBits", "deriveKey"]);
		hkdfBase.set(env.TOKEN_ENCRYPTION_KEY, key);
	}
	return key;
}

/** `length` bytes derived from TOKEN_ENCRYPTION_KEY for one `purpose` (HKDF-SHA256). */
export async function deriveKey(env: Pick<Env, "TOKEN_ENCRYPTION_KEY">, purpose: string, length = KEY_BYTES): Promise<Uint8Array> {
	const bits = await crypto.subtle.deriveBits(
		{ name: "HKDF", hash: "SHA-256", salt: HKDF_SALT, info: encoder.encode(purpose) },
		await masterKey(env),
		length * 8,
	);
	return new Uint8Array(bits);
}

/**
 * An HMAC-SHA256 key for `purpose`, derived from TOKEN_ENCRYPTION_KEY — e.g. `hmacKey(env, "console-session")`
 * for signing the console's session cookie. Use with `hmacSign` / `hmacVerify`.
 */
export async function hmacKey(env: Pick<Env, "TOKEN_ENCRYPTION_KEY">, purpose: string): Promise<CryptoKey> {
	return crypto.subtle.importKey("raw", await deriveKey(env, `hmac:${purpose}`), { name: "HMAC", hash: "SHA-256" }, false, [
		"sign",
		"verify",
	]);
}

/** The base64url HMAC-SHA256 of `data`. */
export async function hmacSign(key: CryptoKey, data: string): Promise<string> {
	return base64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(data))));
}

/** True when `signature` (base64url) is `data`'s HMAC under `key`; constant-time (WebCrypto verify). */
export async function hmacVerify(key: CryptoKey, data: string, signature: string): Promise<boolean> {
	let sig: Uint8Array;
	try {
		sig = base64urlDecode(signature);
	} catch {
		return false;
	}
	return crypto.subtle.verify("HMAC", key, sig, encoder.encode(data));
}

// ─── Sealing secrets at rest (AES-256-GCM) ───────────────────────────────────────────────────────────────
// A sealed value reads `v1.<keyId>.<iv>.<ciphertext>` (base64url). The key id names the key that sealed it, so
// a later key rotation can keep the previous key for reading while new writes use the new one. The
// additional data binds a value to its place (e.g. one destination's grant), so a sealed value copied to
// another place does not open.

const SEAL_VERSION = "v1";
const IV_BYTES = 12;

type SealingKey = { id: string; key: CryptoKey };
const sealingKeys = new Map<string, Promise<SealingKey>>();

async function makeSealingKey(env: Pick<Env, "TOKEN_ENCRYPTION_KEY">): Promise<SealingKey> {
	const [raw, idBytes] = await Promise.all([deriveKey(env, "aes-gcm:token-encryption"), deriveKey(env, "key-id", 6)]);
	const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
	return { id: base64url(idBytes), key };
}

/** The current sealing key and its id. */
function sealingKey(env: Pick<Env, "TOKEN_ENCRYPTION_KEY">): Promise<SealingKey> {
	masterKeyBytes(env);
	let key = sealingKeys.get(env.TOKEN_ENCRYPTION_KEY);
	if (!key) {
		key = makeSealingKey(env);
		sealingKeys.set(env.TOKEN_ENCRYPTION_KEY, key);
	}
	return key;
}

/** Raised when a sealed value cannot be opened: another key sealed it, or it was altered or moved. */
export class UnsealError extends Error {
	override readonly name = "UnsealError";
}

/** Encrypts `plaintext` with AES-256-GCM under a key derived from TOKEN_ENCRYPTION_KEY; a fresh 96-bit IV each call. */
export async function seal(env: Pick<Env, "TOKEN_ENCRYPTION_KEY">, plaintext: string, additionalData: string): Promise<string> {
	const { id, key } = await sealingKey(env);
	const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
	const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: encoder.encode(additionalData) }, key, encoder.encode(plaintext));
	return [SEAL_VERSION, id, base64url(iv), base64url(new Uint8Array(ct))].join(".");
}

/** Decrypts what `seal` produced with the same `additionalData`; throws UnsealError otherwise. */
export async function unseal(env: Pick<Env, "TOKEN_ENCRYPTION_KEY">, sealed: string, additionalData: string): Promise<string> {
	const parts = sealed.split(".");
	if (parts.length !== 4 || parts[0] !== SEAL_VERSION) throw new UnsealError("not a sealed value (expected v1.<keyId>.<iv>.<ciphertext>)");
	const [, keyId, iv, ct] = parts as [string, string, string, string];
	const current = await sealingKey(env);
	if (keyId !== current.id)
		throw new UnsealError(`sealed under key ${keyId}, but TOKEN_ENCRYPTION_KEY is key ${current.id} (was the key changed?)`);
	try {
		const plain = await crypto.subtle.decrypt(
			{ name: "AES-GCM", iv: base64urlDecode(iv), additionalData: encoder.encode(additionalData) },
			current.key,
			base64urlDecode(ct),
		);
		return new TextDecoder().decode(plain);
	} catch {
		throw new UnsealError("the sealed value does not open with this key and context (altered, or sealed for another place)");
	}
}
