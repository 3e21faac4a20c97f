import { Hono } from "hono";
import { metrics } from "../platform/metrics";

/** GET /api/metrics — this isolate's work counters (see src/platform/metrics.ts). */
export const metricsApi = new Hono<{ Bindings: Env }>().get("/", (c) => c.json({ ...metrics }));
