import { Hono } from "hono";
import { notFound, onError } from "../errors";
import { activityApi } from "./activity";
import { alertsApi } from "./alerts";
import { destinationsApi } from "./destinations";
import { mappingApi } from "./mapping";
import { metricsApi } from "./metrics";

/**
 * The admin API (mounted at /api behind the admin token by src/app.ts). The console calls it in-process
 * with `api.request(path, init, env)`, so the two never hold separate copies of a rule.
 */
export const api = new Hono<{ Bindings: Env }>();

api.onError(onError);
api.notFound(notFound);
api.route("/destinations", destinationsApi);
api.route("/destinations", mappingApi);
api.route("/destinations", activityApi);
api.route("/destinations", alertsApi);
api.route("/metrics", metricsApi);
