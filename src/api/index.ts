import { Hono } from "hono";
import { notFound, onError } from "../platform/errors";
import { activityApi } from "./activity";
import { alertsApi } from "./alerts";
import { auditApi } from "./audit";
import { destinationsApi } from "./destinations";
import { keysApi } from "./keys";
import { mappingApi } from "./mapping";
import { metricsApi } from "./metrics";
import { prospectsApi } from "./prospects";
import { authorize, type Authorized } from "./permissions";

/**
 * The admin API (mounted at /api by src/app.ts, which authenticates the caller). Every route passes
 * `authorize` first: the route × role table (src/api/permissions.ts) and the audit log. Its routes are
 * chained so their validators and `c.json` answers make up `AdminApi`, the one contract the console and the
 * alert evaluator call through Hono's typed client (src/api/client.ts).
 */
export const api = new Hono<Authorized>()
	.use("*", authorize)
	.route("/destinations", destinationsApi)
	.route("/destinations", mappingApi)
	.route("/destinations", activityApi)
	.route("/destinations", alertsApi)
	.route("/destinations", prospectsApi)
	.route("/metrics", metricsApi)
	.route("/audit", auditApi)
	.route("/keys", keysApi);

api.onError(onError);
api.notFound(notFound);

export type AdminApi = typeof api;
