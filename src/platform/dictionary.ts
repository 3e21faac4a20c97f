import { z } from "zod";

/**
 * Dictionaries keyed by user data — segment ids, identity namespaces, XDM attribute paths. Such a key may be
 * named like a member of Object.prototype (`constructor`, `toString`, `__proto__`), so it is only ever read
 * as an own property (`{}`["constructor"] is Object, not undefined) and written as one (`o["__proto__"] = v`
 * replaces o's prototype instead of storing v). The objects stay plain — not `Object.create(null)` — because
 * Durable Object RPC refuses to serialize objects without a prototype.
 */

/** `record[key]` when `record` has `key` as its own property, else undefined (never a prototype member). */
export function ownValue<T>(record: Readonly<Record<string, T>> | null | undefined, key: string): T | undefined {
	return record != null && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Stores `value` under `key` as an own, enumerable property, whatever the key is named. */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
	Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A zod schema for a dictionary whose values match `value`. Unlike `z.record`, it keeps every own key —
 * zod drops a `__proto__` key — so a segment named `__proto__` survives the ledger's round trip to a replay.
 */
export function dictionaryOf<T extends z.ZodType>(value: T) {
	return z
		.custom<Record<string, unknown>>((v) => v !== null && typeof v === "object" && !Array.isArray(v), "must be an object")
		.transform((input, ctx) => {
			const out: Record<string, z.output<T>> = {};
			for (const key of Object.keys(input)) {
				const parsed = value.safeParse(input[key]);
				if (parsed.success) setOwn(out, key, parsed.data);
				else for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: [key, ...issue.path] });
			}
			return out;
		});
}
