import { Hono } from "hono";
import { z } from "zod";
import { auditStub } from "../audit/audit";
import { query } from "../http/validation";
import type { Authorized } from "./permissions";

/**
 * `GET /api/audit?destinationId=&limit=&before=` → `{entries:[{id, at, actor, action, destinationId, summary}],
 * nextBefore}`, newest first. `before` is an entry's `id`; pass the answer's `nextBefore` to read the next page
 * (null when there is none).
 */
const AuditQuery = z.strictObject({
	destinationId: z.string().min(1).max(64).optional(),
	limit: z.coerce.number({ error: "must be a number from 1 to 500" }).int().min(1).max(500).default(50),
	before: z.coerce.number({ error: "must be an entry id (the answer's nextBefore)" }).int().positive().optional(),
});

export const auditApi = new Hono<Authorized>().get("/", query(AuditQuery), async (c) => {
	const q = c.req.valid("query");
	return c.json(await auditStub(c.env).list(q));
});
