import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/platform/config";
import { base64url, deriveKey, hmacKey, hmacSign, hmacVerify, masterKeyBytes, seal, unseal, UnsealError } from "../../src/platform/crypto";

const otherKey = { TOKEN_ENCRYPTION_KEY: btoa(String.fromCharCode(...new Uint8Array(32).fill(7))) };

describe("sealing secrets with AES-GCM", () => {
	it("round-trips, bound to its context", async () => {
		const sealed = await seal(env, "secret value", "grant:a");
		expect(sealed).toMatch(/^v1\.[\w-]{8}\.[\w-]{16}\.[\w-]+$/);
		expect(sealed).not.toContain("secret");
		expect(await unseal(env, sealed, "grant:a")).toBe("secret value");
	});

	it("uses a fresh 96-bit IV on every write", async () => {
		const ivs = new Set<string>();
		for (let i = 0; i < 50; i++) ivs.add((await seal(env, "same", "ctx")).split(".")[2]!);
		expect(ivs.size).toBe(50);
		const iv = (await seal(env, "same", "ctx")).split(".")[2]!;
		expect(atob(iv.replace(/-/g, "+").replace(/_/g, "/")).length).toBe(12);
	});

	it("names the key that sealed a value, the same id for the same key", async () => {
		const [a, b] = await Promise.all([seal(env, "x", "c"), seal(env, "y", "c")]);
		expect(a.split(".")[1]).toBe(b.split(".")[1]);
		expect((await seal(otherKey, "x", "c")).split(".")[1]).not.toBe(a.split(".")[1]);
	});

	it("refuses a value sealed for another context (e.g. another destination's grant)", async () => {
		const sealed = await seal(env, "secret", "grant:a");
		await expect(unseal(env, sealed, "grant:b")).rejects.toThrow(UnsealError);
	});

	it("refuses an altered value", async () => {
		const sealed = await seal(env, "secret", "c");
		const parts = sealed.split(".");
		const ct = parts[3]!;
		parts[3] = (ct[0] === "A" ? "B" : "A") + ct.slice(1);
		await expect(unseal(env, parts.join("."), "c")).rejects.toThrow(UnsealError);
		await expect(unseal(env, "not sealed", "c")).rejects.toThrow(UnsealError);
	});

	it("refuses a value sealed under another key, saying so", async () => {
		const sealed = await seal(otherKey, "secret", "c");
		await expect(unseal(env, sealed, "c")).rejects.toThrow(/sealed under key .*\(was the key changed\?\)/);
	});
});

describe("TOKEN_ENCRYPTION_KEY", () => {
	it("is base64 of 32 bytes", () => {
		expect(masterKeyBytes(env)).toHaveLength(32);
	});

	it("missing, not base64, or the wrong length is a configuration error that says how to fix it", async () => {
		expect(() => masterKeyBytes({ TOKEN_ENCRYPTION_KEY: "" })).toThrow(ConfigError);
		expect(() => masterKeyBytes({ TOKEN_ENCRYPTION_KEY: "" })).toThrow(/TOKEN_ENCRYPTION_KEY is not set.*openssl rand -base64 32/);
		expect(() => masterKeyBytes({ TOKEN_ENCRYPTION_KEY: "%%%" })).toThrow(/not valid base64/);
		expect(() => masterKeyBytes({ TOKEN_ENCRYPTION_KEY: btoa("too short") })).toThrow(/decodes to 9 bytes; it must be exactly 32/);
		await expect(seal({ TOKEN_ENCRYPTION_KEY: "" }, "x", "c")).rejects.toThrow(ConfigError);
	});
});

describe("keys derived with HKDF", () => {
	it("differ by purpose and are stable", async () => {
		const a = base64url(await deriveKey(env, "a"));
		expect(base64url(await deriveKey(env, "a"))).toBe(a);
		expect(base64url(await deriveKey(env, "b"))).not.toBe(a);
		expect(base64url(await deriveKey(otherKey, "a"))).not.toBe(a);
	});

	it("sign and verify with hmacKey (e.g. the console's session cookie)", async () => {
		const key = await hmacKey(env, "console-session");
		const sig = await hmacSign(key, "session-id-123");
		expect(await hmacVerify(key, "session-id-123", sig)).toBe(true);
		expect(await hmacVerify(key, "session-id-124", sig)).toBe(false);
		expect(await hmacVerify(await hmacKey(env, "other-purpose"), "session-id-123", sig)).toBe(false);
		expect(await hmacVerify(key, "session-id-123", "!!not base64!!")).toBe(false);
	});
});
