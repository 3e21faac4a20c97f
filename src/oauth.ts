import { Hono } from "hono";

/** OAuth connection routes under /oauth (stub). */
export const oauthApp = new Hono<{ Bindings: Env }>();
