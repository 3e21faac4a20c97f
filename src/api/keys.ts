import { Hono } from "hono";
import { z } from "zod";
import { newApiKey } from "../auth/keys";
import { ROLES } from "../auth/principal";
import { sessionsStub } from "../auth/sessions";
import { ApiError } from "../platform/errors";
import { jsonBody } from "../http/validation";
import type { Authorized } from "./permissions";

/**
 * `/api/keys`: API keys with a role (view, activate, manage). The key is answered once, at creation, and stored
 * only as its hash (src/auth/keys.ts); `DELETE` stops it on its very next request.
 */

const CreateKey = z.strictObject({
	name: z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
	role: z.enum(ROLES, { error: `must be one of ${ROLES.join(", ")}` }),
});

const KeyId = z.string().regex(/^[0-9a-f]{16}$/);

export const keysApi = new Hono<Authorized>()
	.post("/", jsonBody(CreateKey), async (c) => {
		const { name, role } = c.req.valid("json");
		const { id, key, hash } = await newApiKey();
		const createdAt = new Date().toISOString();
		await sessionsStub(c.env).createKey(id, name, role, hash, createdAt);
		c.set("audit", { summary: `key ${name} (${id}) created with role ${role}`, destinationId: null });
		return c.json({ id, name, role, key, createdAt }, 201, { "Cache-Control": "no-store" });
	})
	.get("/", async (c) => c.json({ keys: await sessionsStub(c.env).listKeys() }))
	.delete("/:id", async (c) => {
		const id = c.req.param("id");
		const gone = KeyId.safeParse(id).success ? await sessionsStub(c.env).deleteKey(id) : null;
		if (!gone) throw new ApiError("not_found", `No API key '${id}'. List them with GET /api/keys.`);
		c.set("audit", { summary: `key ${gone.name} (${gone.id}, role ${gone.role}) deleted`, destinationId: null });
		return c.body(null, 204);
	});
