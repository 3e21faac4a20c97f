import { Hono } from "hono";
import { api } from "./api/index";
import { requireAdmin } from "./auth";
import { adminBodyLimit } from "./body-limit";
import { consoleApp } from "./console/index";
import { notFound, onError } from "./errors";
import { ingestApp } from "./ingest";
import { oauthApp } from "./oauth";
import { securityHeaders } from "./security-headers";
import { warnPublicBaseMissing } from "./public-base";

/** The one place the route modules are mounted. */
export const app = new Hono<{ Bindings: Env }>();

app.onError(onError);
app.notFound(notFound);

app.use("*", securityHeaders, warnPublicBaseMissing);
app.get("/healthz", (c) => c.json({ ok: true }));
app.use("/api/*", requireAdmin, adminBodyLimit);
app.route("/api", api);
app.route("/oauth", oauthApp);
app.route("/ingest", ingestApp);
app.route("/", consoleApp);
