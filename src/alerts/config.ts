import { z } from "zod";
import { keys } from "../destinations/records";
import { isLocalDevelopment } from "../platform/environment";
import { classifyHost } from "../platform/public-host";

/**
 * A destination's alert settings (KV `alerts:<id>`): the webhook and its three conditions, and the one way a
 * message is posted to the webhook. The API stores and tests them; the cron's evaluator (./evaluate) reads them.
 */

const WEBHOOK_TIMEOUT_MS = 5_000;

const LOCAL_ONLY =
	"may point at 127.0.0.1 or localhost only in local development (when OUTREACH_API_BASE is the local Outreach, as with npm start); use your webhook's public https URL";

const LOCAL_LITERAL = new Set(["127.0.0.1", "localhost"]);

/** The host as typed in `value`, before the URL parser normalises it (case, numeric forms). */
function typedHost(value: string): string {
	return /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^/?#:]*)/i.exec(value.trim())?.[1] ?? "";
}

/**
 * Why the Worker will not post to `value`, or null. Webhooks are posted from inside Cloudflare on a user's
 * behalf, so only https URLs on public hosts are taken (src/platform/public-host.ts judges the host); this machine
 * (127.0.0.1, localhost) over http or https only in local development, decided from configuration
 * (src/platform/environment.ts), never from the request.
 */
export function webhookUrlProblem(value: string, localDevelopment: boolean): string | null {
	if (!URL.canParse(value)) return "must be a URL, e.g. https://hooks.slack.com/services/…";
	const url = new URL(value);
	if (url.protocol !== "https:" && url.protocol !== "http:") return "must use https, e.g. https://hooks.slack.com/services/…";
	const kind = classifyHost(url.hostname);
	if (kind === "loopback") {
		if (!localDevelopment) return LOCAL_ONLY;
		// Exactly as typed: 0177.0.0.1, 127.1, LOCALHOST or [::1] are the same machine in disguise.
		return LOCAL_LITERAL.has(typedHost(value)) ? null : "must name this machine as 127.0.0.1 or localhost, exactly (other forms of a local address are refused)";
	}
	if (url.protocol !== "https:") return "must use https (http is allowed only for 127.0.0.1 and localhost, in local development)";
	if (kind === "private")
		return `must be a public https address: ${url.hostname} is a private, link-local, shared or reserved address, which alerts are never posted to`;
	if (kind === "local_name") return `must name a public host: ${url.hostname} only exists on a local network`;
	if (kind === "no_domain") return `must name a public host with its domain, e.g. hooks.slack.com (not ${url.hostname})`;
	return null;
}

// The stored form is checked with the local-development allowance; the API and postWebhook apply the real one.
const WebhookUrl = z
	.string()
	.trim()
	.max(2048, "must be at most 2,048 characters")
	.superRefine((u, ctx) => {
		const problem = webhookUrlProblem(u, true);
		if (problem) ctx.addIssue({ code: "custom", message: problem });
	});

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

/** What posting to a webhook came to; `status` is for logs, people get `webhookFailureMessage`. */
export type WebhookResult =
	| { ok: true; status: number }
	| { ok: false; status: number; failure: "refused_target" | "unreachable" | "redirect" | "rejected"; problem?: string };

/**
 * Posts `{text}` to the webhook; ok when it answered 2xx. The target is checked again first (a stored URL
 * may predate a rule), and a redirect is never followed: it could lead to an address the URL rules refuse.
 * Never logs the URL (a Slack URL is a secret).
 */
export async function postWebhook(env: Env, url: string, text: string): Promise<WebhookResult> {
	const problem = webhookUrlProblem(url, isLocalDevelopment(env));
	if (problem) return { ok: false, status: 0, failure: "refused_target", problem };
	try {
		const res = await fetch(url, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ text }),
			redirect: "manual",
			signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
		});
		await res.body?.cancel();
		if (res.status >= 300 && res.status < 400) return { ok: false, status: res.status, failure: "redirect" };
		return res.ok ? { ok: true, status: res.status } : { ok: false, status: res.status, failure: "rejected" };
	} catch {
		return { ok: false, status: 0, failure: "unreachable" };
	}
}

/**
 * What to tell a person about a failed post. Only the class of the status is named: the exact status (or
 * body) of whatever answered would let the webhook setting probe services the Worker can reach.
 */
export function webhookFailureMessage(res: Exclude<WebhookResult, { ok: true }>): string {
	switch (res.failure) {
		case "refused_target":
			return `The saved webhook URL is not allowed: it ${res.problem}. Save another URL.`;
		case "unreachable":
			return "The webhook did not answer within 5 seconds (or could not be reached). Check the URL.";
		case "redirect":
			return "The webhook answered with a redirect (HTTP 3xx), and redirects are not followed. Save the URL it redirects to instead.";
		case "rejected":
			return `The webhook did not accept the message (HTTP ${Math.floor(res.status / 100)}xx). Check the URL (a Slack incoming webhook looks like https://hooks.slack.com/services/…).`;
	}
}
