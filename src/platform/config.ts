import { z } from "zod";

/** The Worker's variables, checked once per env object; secrets are checked where they are used. */
const Vars = z.object({
	OUTREACH_API_BASE: z.url().transform((u) => u.replace(/\/+$/, "")),
	OUTREACH_SCOPES: z.string().trim().min(1),
	OUTREACH_RATE_LIMIT: z.coerce.number().int().positive(),
	OUTREACH_RATE_WINDOW_SECONDS: z.coerce.number().int().positive(),
	RETRY_BASE_SECONDS: z.coerce.number().positive(),
	INGEST_MAX_BYTES: z.coerce.number().int().positive(),
	RETENTION_DAYS: z.coerce.number().positive(),
	GRANT_LEASE_SECONDS: z.coerce.number().positive().default(90),
	OUTREACH_TIMEOUT_SECONDS: z.coerce.number().positive().default(15),
	OUTREACH_BULK_MAX_IDS: z.coerce.number().int().positive().default(10_000),
	OUTREACH_IMPORT_MAX_RECORDS: z.coerce.number().int().positive().default(1_000),
	AUDIT_RETENTION_DAYS: z.union([z.literal(""), z.coerce.number().positive()]).optional().transform((d) => (d === "" || d === undefined ? 365 : d)),
	// Cloudflare Access for the console: both set, or neither (see accessConfigProblem in src/auth/access.ts).
	ACCESS_TEAM_DOMAIN: z.string().trim().optional().default(""),
	ACCESS_AUD: z.string().trim().optional().default(""),
	ACCESS_ROLES: z.string().trim().optional().default(""),
	PUBLIC_BASE_URL: z
		.union([z.literal(""), z.url()])
		.optional()
		.transform((u) => (u ? u.replace(/\/+$/, "") : undefined)),
});

export type Config = z.infer<typeof Vars>;

export class ConfigError extends Error {}

const cache = new WeakMap<object, Config>();

/** Parses the Worker's `[vars]`; throws a ConfigError naming every bad variable. */
export function config(env: Env): Config {
	const hit = cache.get(env);
	if (hit) return hit;
	const parsed = Vars.safeParse(env);
	if (!parsed.success) {
		const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
		throw new ConfigError(`Invalid Worker configuration (fix wrangler.toml [vars] or .dev.vars): ${problems}`);
	}
	if (parsed.data.GRANT_LEASE_SECONDS <= parsed.data.OUTREACH_TIMEOUT_SECONDS)
		throw new ConfigError(
			`Invalid Worker configuration: GRANT_LEASE_SECONDS (${parsed.data.GRANT_LEASE_SECONDS}) must be longer than OUTREACH_TIMEOUT_SECONDS (${parsed.data.OUTREACH_TIMEOUT_SECONDS}), or no call could ever be sent.`,
		);
	cache.set(env, parsed.data);
	return parsed.data;
}

/** The public origin used for the OAuth redirect URI and the ingest URL. */
export function publicBase(env: Env, requestUrl: string): string {
	return config(env).PUBLIC_BASE_URL ?? new URL(requestUrl).origin;
}
