import { Hono } from "hono";

/** Admin routes under /api/destinations (stub; filled in by its issue). */
export const alertsApi = new Hono<{ Bindings: Env }>();
