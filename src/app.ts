import { Hono } from "hono";
import { activityApi } from "./api/activity";
import { alertsApi } from "./api/alerts";
import { destinationsApi } from "./api/destinations";
import { mappingApi } from "./api/mapping";
import { requireAdmin } from "./auth";
import { consoleApp } from "./console/index";
import { notFound, onError } from "./errors";
import { ingestApp } from "./ingest";
import { oauthApp } from "./oauth";

/** The one place every route module is mounted. */
export const app = new Hono<{ Bindings: Env }>();

app.onError(onError);
app.notFound(notFound);

app.get("/healthz", (c) => c.json({ ok: true }));

app.use("/api/*", requireAdmin);
app.route("/api/destinations", destinationsApi);
app.route("/api/destinations", mappingApi);
app.route("/api/destinations", activityApi);
app.route("/api/destinations", alertsApi);

app.route("/oauth", oauthApp);
app.route("/ingest", ingestApp);
app.route("/", consoleApp);
