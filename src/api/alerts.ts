import { Hono } from "hono";
import { AlertConfig, getAlertConfig, noAlerts, postWebhook, putAlertConfig, webhookFailureMessage, webhookUrlProblem } from "../alerts/config";
import { slackEscape } from "../alerts/slack";
import { isLocalDevelopment } from "../platform/environment";
import { ApiError } from "../platform/errors";
import { ledgerStub } from "../ledger/ledger";
import { jsonBody } from "../http/validation";
import { loadDestination } from "./destinations";
import { noteAudit } from "./permissions";

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
		// The schema allows 127.0.0.1 and localhost; whether this Worker is in local development is configuration.
		const problem = conf.webhookUrl === null ? null : webhookUrlProblem(conf.webhookUrl, isLocalDevelopment(c.env));
		if (problem)
			throw new ApiError("bad_request", `Invalid request body (1 problem; see details): webhookUrl: ${problem}`, [{ path: "webhookUrl", message: problem }]);
		const before = (await getAlertConfig(c.env, id)) ?? noAlerts;
		await putAlertConfig(c.env, id, conf);
		// The webhook URL is a secret (it posts into a channel): the audit says only whether it changed.
		const was = before.conditions as Record<string, unknown>;
		const parts = Object.entries(conf.conditions)
			.filter(([k, v]) => was[k] !== v)
			.map(([k, v]) => `${k} ${String(was[k])} → ${String(v)}`);
		if (before.webhookUrl !== conf.webhookUrl)
			parts.push(`webhook ${before.webhookUrl ? "set" : "none"} → ${conf.webhookUrl ? (before.webhookUrl ? "another URL" : "set") : "none"}`);
		noteAudit(c, { summary: `alerts: ${parts.join("; ") || "no change"}` });
		return c.json(conf);
	})
	.post("/:id/alerts/test", loadDestination, async (c) => {
		const d = c.var.destination;
		const id = d.id;
		const conf = await getAlertConfig(c.env, id);
		if (!conf?.webhookUrl) throw new ApiError("conflict", "No webhook URL is saved for this destination. PUT /alerts with a webhookUrl first.");
		const res = await postWebhook(c.env, conf.webhookUrl, `:wave: AEP → Outreach · ${slackEscape(d.name)} — test message: alerts for this destination will arrive here.`);
		if (!res.ok) throw new ApiError("upstream_error", webhookFailureMessage(res));
		return c.json({ sent: true, status: res.status });
	});
