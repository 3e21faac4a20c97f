import { Hono } from "hono";

/** Admin routes under /api/destinations (stub; filled in by its issue). */
export const activityApi = new Hono<{ Bindings: Env }>();
