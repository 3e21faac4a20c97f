import { config } from "../platform/config";
import { getAlertConfig, postWebhook, type AlertConfig } from "./config";
import { slackEscape } from "./slack";
import { apiClient, type Activity, type Destination } from "../api/client";
import { randomToken } from "../platform/crypto";
import { keys } from "../destinations/records";
import { ledgerStub, type AlertConditionState } from "../ledger/ledger";
import { log } from "../platform/log";

/**
 * Alerts: a webhook (Slack-compatible `{text}`) and three conditions, evaluated by the cron trigger
 * (`evaluateAlerts`). At most one alert per condition per hour, and one recovery message when it clears;
 * the per-condition state lives in the destination's ledger. It reads destinations and their activity through
 * the admin API's typed client, as the console does.
 */

const HOUR_MS = 3_600_000;

export type ConditionName = keyof AlertConfig["conditions"];

/** What one evaluation found for one condition: firing or not, and the sentence that says why. */
type Finding = { firing: boolean; detail: string };

/** Failure rate over the hour buckets overlapping the last 60 minutes: failed ÷ (delivered + failed). */
export function failureRate(activity: Activity, now: number): { failed: number; outcomes: number; percent: number } {
	let failed = 0;
	let delivered = 0;
	for (const h of activity.hours) {
		const hour = Date.parse(h.hour);
		if (hour <= now - 2 * HOUR_MS || hour > now) continue;
		failed += h.failed;
		delivered += h.delivered;
	}
	const outcomes = failed + delivered;
	return { failed, outcomes, percent: outcomes === 0 ? 0 : (100 * failed) / outcomes };
}

function minutes(ms: number): string {
	const m = Math.round(ms / 60_000);
	return m < 120 ? `${m} min` : `${(m / 60).toFixed(1)} h`;
}

/** Evaluates the conditions that are on; conditions that are off are absent from the answer. */
export function findings(conf: AlertConfig, destination: Destination, activity: Activity | null, now: number): Partial<Record<ConditionName, Finding>> {
	const out: Partial<Record<ConditionName, Finding>> = {};
	const c = conf.conditions;
	if (c.connectionLost) {
		const lost = destination.status === "reconnect_required";
		const who = destination.outreachUser ? ` (${slackEscape(destination.outreachUser.email)})` : "";
		out.connectionLost = {
			firing: lost,
			detail: lost
				? `the Outreach connection${who} needs reconnecting; updates are held until someone reconnects it`
				: `the Outreach connection${who} works again`,
		};
	}
	if (c.failureRatePercent !== null && activity) {
		const r = failureRate(activity, now);
		const firing = r.outcomes > 0 && r.percent > c.failureRatePercent;
		out.failureRatePercent = {
			firing,
			detail: `${r.percent.toFixed(1)}% of deliveries failed in the last hour (${r.failed} of ${r.outcomes}; alert above ${c.failureRatePercent}%)`,
		};
	}
	if (c.pendingOlderThanMinutes !== null && activity) {
		const oldestAt = activity.budget.oldestPendingAt;
		const oldest = oldestAt === null ? null : Date.parse(oldestAt);
		const age = oldest === null ? 0 : now - oldest;
		const firing = oldest !== null && age > c.pendingOlderThanMinutes * 60_000;
		out.pendingOlderThanMinutes = {
			firing,
			detail:
				oldest === null
					? "no update is pending"
					: `the oldest pending update has waited ${minutes(age)} (alert after ${c.pendingOlderThanMinutes} min)`,
		};
	}
	return out;
}

const titles: Record<ConditionName, string> = {
	connectionLost: "Connection lost",
	failureRatePercent: "Failure rate",
	pendingOlderThanMinutes: "Updates waiting",
};

function consoleLink(env: Env, destinationId: string, page: string): string {
	const base = config(env).PUBLIC_BASE_URL;
	return base ? ` <${base}/destinations/${encodeURIComponent(destinationId)}/${page}|Open the console>` : "";
}

type Kind = "alert" | "reminder" | "recovery";

/** The next state of one condition and the message to send now, if any (pure: the rules live here). */
export function step(
	prev: AlertConditionState | undefined,
	finding: Finding,
	now: number,
): { next: AlertConditionState; send: Kind | null } {
	const state: AlertConditionState = prev ?? { active: false };
	const quiet = state.lastSentAt !== undefined && now - state.lastSentAt < HOUR_MS;
	if (finding.firing) {
		if (quiet) return { next: state, send: null };
		return {
			next: { active: true, since: state.active ? state.since : now, lastSentAt: now, detail: finding.detail },
			send: state.active ? "reminder" : "alert",
		};
	}
	if (state.active) return { next: { active: false, lastSentAt: state.lastSentAt, detail: finding.detail }, send: "recovery" };
	return { next: state, send: null };
}

function message(kind: Kind, condition: ConditionName, destination: Destination, detail: string, link: string): string {
	const head = `AEP → Outreach · ${slackEscape(destination.name)}`;
	if (kind === "recovery") return `:white_check_mark: ${head} — ${titles[condition]} resolved: ${detail}.${link}`;
	const prefix = kind === "reminder" ? "still " : "";
	return `:warning: ${head} — ${titles[condition]}: ${prefix}${detail}.${link}`;
}

const pageFor: Record<ConditionName, string> = {
	connectionLost: "",
	failureRatePercent: "activity",
	pendingOlderThanMinutes: "activity",
};

async function evaluateOne(env: Env, destinationId: string, conf: AlertConfig, now: number, requestId: string): Promise<number> {
	const client = apiClient(env, config(env).PUBLIC_BASE_URL ?? "http://localhost", { kind: "system", role: "view" });
	const dest = await client.getDestination(destinationId);
	if (!dest.ok) return 0;
	const needsActivity = conf.conditions.failureRatePercent !== null || conf.conditions.pendingOlderThanMinutes !== null;
	const activity = needsActivity ? await client.getActivity(destinationId) : null;
	const found = findings(conf, dest.data, activity?.ok ? activity.data : null, now);

	const ledger = ledgerStub(env, destinationId);
	const state = await ledger.getAlertState();
	let sent = 0;
	let changed = false;
	for (const name of Object.keys(titles) as ConditionName[]) {
		const finding = found[name];
		if (!finding) {
			// A condition switched off (or not measurable now) forgets its state quietly.
			if (state[name]?.active && (conf.conditions[name] === null || conf.conditions[name] === false)) {
				delete state[name];
				changed = true;
			}
			continue;
		}
		const { next, send } = step(state[name], finding, now);
		if (send && conf.webhookUrl) {
			const text = message(send, name, dest.data, finding.detail, consoleLink(env, destinationId, pageFor[name]));
			const res = await postWebhook(env, conf.webhookUrl, text);
			if (!res.ok) {
				// Not recorded as sent: the next run (a minute later) tries again.
				log("warn", "alert_failed", { destinationId, requestId, condition: name, kind: send, status: res.status, failure: res.failure });
				continue;
			}
			log("info", "alert_sent", { destinationId, requestId, condition: name, kind: send, status: res.status });
			sent++;
		}
		if (JSON.stringify(next) !== JSON.stringify(state[name])) {
			state[name] = next;
			changed = true;
		}
	}
	if (changed) await ledger.putAlertState(state);
	return sent;
}

/**
 * Evaluates every destination's alerts once (the cron trigger calls this every minute) and answers how many
 * messages were sent. One destination's trouble never stops the others'.
 */
export async function evaluateAlerts(env: Env, now = Date.now()): Promise<{ evaluated: number; sent: number }> {
	const requestId = `alerts-${randomToken(8)}`;
	let evaluated = 0;
	let sent = 0;
	let cursor: string | undefined;
	do {
		const page = await env.CONFIG.list({ prefix: keys.alerts(""), cursor });
		for (const key of page.keys) {
			const destinationId = key.name.slice(keys.alerts("").length);
			try {
				const conf = await getAlertConfig(env, destinationId);
				if (!conf?.webhookUrl) continue;
				evaluated++;
				sent += await evaluateOne(env, destinationId, conf, now, requestId);
			} catch (err) {
				log("error", "alert_evaluation_failed", { destinationId, requestId, error: err instanceof Error ? err.name : "Error" });
			}
		}
		cursor = page.list_complete ? undefined : page.cursor;
	} while (cursor);
	return { evaluated, sent };
}
