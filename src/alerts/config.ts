import { z } from "zod";
import { keys } from "../destinations";

/**
 * A destination's alert settings (KV `alerts:<id>`): the webhook and its three conditions, and the one way a
 * message is posted to the webhook. The API stores and tests them; the cron's evaluator (./evaluate) reads them.
 */

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
const WEBHOOK_TIMEOUT_MS = 5_000;

const WebhookUrl = z
	.string()
	.trim()
	.max(2048, "must be at most 2,048 characters")
	.refine((u) => URL.canParse(u), "must be a URL, e.g. https://hooks.slack.com/services/…")
	.refine((u) => {
		if (!URL.canParse(u)) return true;
		const url = new URL(u);
		return url.protocol === "https:" || (url.protocol === "http:" && LOCAL_HOSTS.has(url.hostname));
	}, "must use https (http is allowed only for localhost and 127.0.0.1)");

export const AlertConditions = z.strictObject({
	connectionLost: z.boolean({ error: "must be true or false" }).default(false),
	failureRatePercent: z
		.number({ error: "must be a percentage from 1 to 100, or null for off" })
		.min(1, "must be from 1 to 100")
		.max(100, "must be from 1 to 100")
		.nullable()
		.default(null),
	pendingOlderThanMinutes: z
		.number({ error: "must be a whole number of minutes, or null for off" })
		.int("must be a whole number of minutes")
		.min(1, "must be at least 1 minute")
		.max(7 * 24 * 60, "must be at most 10,080 minutes (a week)")
		.nullable()
		.default(null),
});

/** The stored alert configuration of one destination (KV `alerts:<id>`). */
export const AlertConfig = z
	.strictObject({
		webhookUrl: WebhookUrl.nullable().default(null),
		conditions: AlertConditions.default({ connectionLost: false, failureRatePercent: null, pendingOlderThanMinutes: null }),
	})
	.superRefine((a, ctx) => {
		const anyOn = a.conditions.connectionLost || a.conditions.failureRatePercent !== null || a.conditions.pendingOlderThanMinutes !== null;
		if (anyOn && a.webhookUrl === null)
			ctx.addIssue({ code: "custom", path: ["webhookUrl"], message: "is required while a condition is on (where should the alert go?)" });
	});
export type AlertConfig = z.infer<typeof AlertConfig>;

export const noAlerts: AlertConfig = { webhookUrl: null, conditions: { connectionLost: false, failureRatePercent: null, pendingOlderThanMinutes: null } };

export async function getAlertConfig(env: Env, destinationId: string): Promise<AlertConfig | null> {
	const raw = await env.CONFIG.get(keys.alerts(destinationId), "json");
	if (raw === null) return null;
	const parsed = AlertConfig.safeParse(raw);
	return parsed.success ? parsed.data : null;
}

export async function putAlertConfig(env: Env, destinationId: string, value: AlertConfig): Promise<void> {
	await env.CONFIG.put(keys.alerts(destinationId), JSON.stringify(value));
}

/** Posts `{text}` to the webhook; true when it answered 2xx. Never logs the URL (a Slack URL is a secret). */
export async function postWebhook(url: string, text: string): Promise<{ ok: boolean; status: number }> {
	try {
		const res = await fetch(url, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ text }),
			signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
		});
		await res.body?.cancel();
		return { ok: res.ok, status: res.status };
	} catch {
		return { ok: false, status: 0 };
	}
}

