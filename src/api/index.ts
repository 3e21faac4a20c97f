import { Hono } from "hono";
import { notFound, onError } from "../platform/errors";
import { activityApi } from "./activity";
import { alertsApi } from "./alerts";
import { destinationsApi } from "./destinations";
import { mappingApi } from "./mapping";
import { metricsApi } from "./metrics";

/**
 * The admin API (mounted at /api behind the admin token by src/app.ts). Its routes are chained so their
 * validators and `c.json` answers make up `AdminApi`, the one contract the console and the alert evaluator
 * call through Hono's typed client (src/api/client.ts).
 */
export const api = new Hono<{ Bindings: Env }>()
	.route("/destinations", destinationsApi)
	.route("/destinations", mappingApi)
	.route("/destinations", activityApi)
	.route("/destinations", alertsApi)
	.route("/metrics", metricsApi);

api.onError(onError);
api.notFound(notFound);

export type AdminApi = typeof api;
