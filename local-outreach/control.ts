import { Hono, type Context } from "hono";
import { z } from "zod";
import { notFoundError } from "./errors.ts";
import { spend } from "./limits.ts";
import { findProspect, noFaults, prospectId, resetWorld, settingsSchema, tokenState, type World } from "./state.ts";

// /__fake/*: how tests and the benchmark steer the local Outreach and look inside it. No auth, never counted,
// never rate limited; plain JSON.

const faultsSchema = z
	.strictObject({
		status: z.number().int().min(400).max(599).optional(),
		count: z.number().int().positive().optional(),
		// Each API call answers the status with this probability (until `count` faults were injected, if given;
		// else until cleared), instead of every call.
		probability: z.number().gt(0).max(1).optional(),
		// How far ahead a 503's Retry-After points.
		retryAfterSeconds: z.number().int().nonnegative().optional(),
		latencyMs: z.number().int().nonnegative().max(120_000).optional(),
		revokeAllTokens: z.boolean().optional(),
		spendBudget: z.strictObject({ userId: z.number().int().positive(), calls: z.number().int().positive() }).optional(),
		// The next N token requests are carried out (a refresh token rotates) but their answers are lost.
		tokenAnswerLost: z.number().int().positive().optional(),
	})
	.refine((f) => f.status !== undefined || (f.count === undefined && f.retryAfterSeconds === undefined && f.probability === undefined), {
		message: "'count', 'probability' and 'retryAfterSeconds' go with 'status'",
	});

type Problem = { path: string; message: string };

function problemsOf(error: z.ZodError): Problem[] {
	return error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
}

/** The JSON body, {} when empty, or the 400 explaining why it is not JSON. */
async function jsonBody(c: Context): Promise<{ body: unknown } | Response> {
	const text = await c.req.text();
	if (!text.trim()) return { body: {} };
	try {
		return { body: JSON.parse(text) };
	} catch {
		return c.json({ ok: false, problems: [{ path: "", message: "the body is not valid JSON" }] }, 400);
	}
}

/** Parses the body with `schema`, or answers 400 with every problem found. */
async function validBody<T>(c: Context, schema: z.ZodType<T>): Promise<T | Response> {
	const read = await jsonBody(c);
	if (read instanceof Response) return read;
	const parsed = schema.safeParse(read.body);
	return parsed.success ? parsed.data : c.json({ ok: false, problems: problemsOf(parsed.error) }, 400);
}

/** `?since=<epoch ms>`, 0 (everything) when absent or not a number. */
function sinceOf(c: Context): number {
	return Number(c.req.query("since") ?? 0) || 0;
}

export function controlRoutes(world: World): Hono {
	const control = new Hono();

	control.post("/reset", async (c) => {
		const settings = await validBody(c, settingsSchema);
		if (settings instanceof Response) return settings;
		resetWorld(world, settings);
		return c.json({ ok: true });
	});

	control.post("/faults", async (c) => {
		const faults = await validBody(c, faultsSchema);
		if (faults instanceof Response) return faults;
		if (faults.spendBudget && !world.users.has(faults.spendBudget.userId))
			return c.json({ ok: false, problems: [{ path: "spendBudget.userId", message: "no such user" }] }, 400);
		if (Object.keys(faults).length === 0) world.faults = noFaults();
		if (faults.status !== undefined)
			world.faults.status = {
				status: faults.status,
				// A random fault lasts until cleared unless it is given a count; a plain one hits the next `count` calls.
				remaining: faults.count ?? (faults.probability === undefined ? 1 : Infinity),
				probability: faults.probability ?? 1,
				retryAfterSeconds: faults.retryAfterSeconds ?? 1,
			};
		if (faults.latencyMs !== undefined) world.faults.latencyMs = faults.latencyMs;
		if (faults.revokeAllTokens) {
			const now = Date.now();
			for (const token of world.tokens.values()) if (tokenState(token, now) === "active") token.state = "revoked";
		}
		if (faults.tokenAnswerLost !== undefined) world.faults.tokenAnswerLost = faults.tokenAnswerLost;
		if (faults.spendBudget) spend(world, faults.spendBudget.userId, faults.spendBudget.calls, Date.now());
		return c.json({ ok: true });
	});

	control.get("/prospects/:id", (c) => {
		const raw = c.req.param("id");
		const id = prospectId(raw);
		const attributes = id === null ? undefined : findProspect(world, id);
		if (id === null || !attributes) return c.json({ errors: [notFoundError("prospect", raw)] }, 404);
		return c.json({ data: { type: "prospect", id, attributes } });
	});

	control.get("/stats", (c) =>
		c.json({
			requests: world.stats.requests,
			status429: world.stats.status429,
			usage: [...world.windows].map(([userId, w]) => ({ userId, windowStart: w.start, count: w.count })),
			tokenGrants: world.stats.tokenGrants,
			bulk: world.bulk.stats,
			imports: world.imports.stats,
		}),
	);

	// `?since=<epoch ms>` keeps a long benchmark's polling cheap.
	control.get("/requests", (c) => {
		const since = sinceOf(c);
		return c.json({ requests: since ? world.log.filter((r) => r.at >= since) : world.log });
	});

	control.get("/writes", (c) => {
		// `?offset=&limit=` pages by position (a back-fill of a million profiles logs millions of writes).
		const offset = c.req.query("offset");
		if (offset === undefined) return c.json({ writes: world.writes.since(sinceOf(c)) });
		const from = Number(offset);
		const limit = Number(c.req.query("limit") ?? 100_000);
		if (!Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > 1_000_000)
			return c.json({ error: "offset must be a whole number ≥ 0 and limit one from 1 to 1,000,000" }, 400);
		return c.json(world.writes.page(from, limit));
	});

	// An Outreach user changes their email (as a person can in Outreach's settings); their tokens stay valid.
	control.post("/users/:id", async (c) => {
		const user = world.users.get(Number(c.req.param("id")));
		if (!user) return c.json({ ok: false, problems: [{ path: "id", message: "no such user" }] }, 404);
		const body = await validBody(c, z.strictObject({ email: z.string().min(1) }));
		if (body instanceof Response) return body;
		user.email = body.email;
		return c.json({ ok: true });
	});

	control.get("/tokens", (c) => {
		const now = Date.now();
		return c.json({
			tokens: [...world.tokens.values()].map((t) => ({ type: t.type, value: t.value, userId: t.userId, state: tokenState(t, now) })),
		});
	});

	return control;
}
