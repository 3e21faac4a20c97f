import { Hono } from "hono";

/** Admin routes under /api/destinations (stub; filled in by its issue). */
export const mappingApi = new Hono<{ Bindings: Env }>();
