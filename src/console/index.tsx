import { Hono } from "hono";

/** The web console at / (stub). */
export const consoleApp = new Hono<{ Bindings: Env }>();
