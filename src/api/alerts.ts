import { Hono } from "hono";
import { AlertConfig, getAlertConfig, noAlerts, postWebhook, putAlertConfig } from "../alerts/config";
import { ApiError } from "../errors";
import { ledgerStub } from "../ledger/ledger";
import { jsonBody } from "../validation";
import { loadDestination } from "./destinations";

/**
 * `GET|PUT /api/destinations/:id/alerts` → `{webhookUrl, conditions:{connectionLost, failureRatePercent,
 * pendingOlderThanMinutes}}`. GET also answers `state` (each condition's current alert state, read-only);
 * `POST /:id/alerts/test` sends a test message so a webhook can be checked before anything goes wrong.
 */
export const alertsApi = new Hono<{ Bindings: Env }>()
	.get("/:id/alerts", loadDestination, async (c) => {
		const id = c.var.destination.id;
		const [conf, state] = await Promise.all([getAlertConfig(c.env, id), ledgerStub(c.env, id).getAlertState()]);
		return c.json({ ...(conf ?? noAlerts), state });
	})
	.put("/:id/alerts", loadDestination, jsonBody(AlertConfig), async (c) => {
		const id = c.var.destination.id;
		const conf = c.req.valid("json");
		await putAlertConfig(c.env, id, conf);
		return c.json(conf);
	})
	.post("/:id/alerts/test", loadDestination, async (c) => {
		const d = c.var.destination;
		const id = d.id;
		const conf = await getAlertConfig(c.env, id);
		if (!conf?.webhookUrl) throw new ApiError("conflict", "No webhook URL is saved for this destination. PUT /alerts with a webhookUrl first.");
		const res = await postWebhook(conf.webhookUrl, `:wave: AEP → Outreach · ${d.name} — test message: alerts for this destination will arrive here.`);
		if (!res.ok)
			throw new ApiError(
				"upstream_error",
				res.status === 0
					? "The webhook did not answer within 5 seconds (or could not be reached). Check the URL."
					: `The webhook answered HTTP ${res.status}. Check the URL (a Slack incoming webhook looks like https://hooks.slack.com/services/…).`,
			);
		return c.json({ sent: true, status: res.status });
	});
