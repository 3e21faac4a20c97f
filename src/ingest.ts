import { Hono } from "hono";

/** POST /ingest/:destinationId (stub). */
export const ingestApp = new Hono<{ Bindings: Env }>();
