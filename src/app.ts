import { Hono } from "hono";
import { api } from "./api/index";
import { requireAdmin } from "./auth/admin-token";
import { adminBodyLimit } from "./http/body-limit";
import { consoleApp } from "./console/index";
import { notFound, onError } from "./platform/errors";
import { ingestApp } from "./ingest/route";
import { oauthApp } from "./oauth/callback";
import { securityHeaders } from "./http/security-headers";
import { warnPublicBaseMissing } from "./http/public-base";

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
