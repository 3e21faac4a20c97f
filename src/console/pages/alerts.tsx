import type { Hono } from "hono";
import type { AlertsAnswer, Destination, Problem } from "../../api/client";
import { Badge, Callout, Csrf, FieldErrors } from "../components";
import type { ConsoleContext, ConsoleEnv } from "../context";
import { relative } from "../format";
import { AlertsForm, alertsBody } from "../forms";
import { failurePage } from "../guard";
import { DestinationHeader, destinationPath, Shell } from "../layout";
import { destinationOr } from "./shared";

type Values = { webhookUrl: string; connectionLost: boolean; failureRatePercent: string; pendingOlderThanMinutes: string };

const toValues = (a: AlertsAnswer): Values => ({
	webhookUrl: a.webhookUrl ?? "",
	connectionLost: a.conditions.connectionLost,
	failureRatePercent: a.conditions.failureRatePercent === null ? "" : String(a.conditions.failureRatePercent),
	pendingOlderThanMinutes: a.conditions.pendingOlderThanMinutes === null ? "" : String(a.conditions.pendingOlderThanMinutes),
});

const conditionTitles: Record<string, string> = {
	connectionLost: "Connection lost",
	failureRatePercent: "Failure rate",
	pendingOlderThanMinutes: "Updates waiting",
};

type Props = { values: Values; state: AlertsAnswer["state"]; saved: boolean; problems: Problem[]; message?: string; notice?: string; error?: string };

function alertsPage(c: ConsoleContext, d: Destination, p: Props) {
	const csrf = c.var.csrf;
	const inv = (path: string) => (p.problems.some((x) => x.path === path) ? "true" : undefined);
	const state = Object.entries(p.state ?? {});
	return c.html(
		<Shell title={`Alerts · ${d.name}`} csrf={csrf} principal={c.var.principal}>
			<DestinationHeader destination={d} tab="alerts" />
			{p.notice && <Callout tone="ok" testid="flash">{p.notice}</Callout>}
			{p.error && <Callout tone="bad" title={p.error} />}
			{(p.problems.length > 0 || p.message) && (
				<Callout tone="bad" title="The alerts were not saved." testid="alerts-errors">
					<p>{p.problems.length ? "Fix what is marked below, then save again." : p.message}</p>
				</Callout>
			)}
			<div class="grid main-side">
				<form class="card" data-needs="manage" method="post" action={destinationPath(d.id, "/alerts")}>
					<Csrf token={csrf} />
					<h2>Where alerts go</h2>
					<div class="field">
						<label for="webhookUrl">Webhook URL</label>
						<input id="webhookUrl" name="webhookUrl" type="url" value={p.values.webhookUrl} placeholder="https://hooks.slack.com/services/…" aria-invalid={inv("webhookUrl")} />
						<FieldErrors problems={p.problems} path="webhookUrl" />
						<p class="hint">
							A Slack incoming webhook, or anything that accepts <code>POST {"{"}"text": "…"{"}"}</code>. Must be https on a public host (http://127.0.0.1 and http://localhost only in local development).
						</p>
					</div>
					<h2>When to alert</h2>
					<p class="small muted">Checked every minute. At most one message per condition per hour, and one when it clears.</p>
					<div class="field">
						<label class="check">
							<input type="checkbox" name="connectionLost" checked={p.values.connectionLost} />
							<span>
								The Outreach connection is lost
								<small>Outreach refused the grant (revoked, password changed, scope missing). Updates are held until someone reconnects.</small>
							</span>
						</label>
						<FieldErrors problems={p.problems} path="conditions.connectionLost" />
					</div>
					<div class="field">
						<label for="failureRatePercent">Failure rate in the last hour above (%)</label>
						<input id="failureRatePercent" name="failureRatePercent" type="number" min={1} max={100} step="any" value={p.values.failureRatePercent} placeholder="off" aria-invalid={inv("conditions.failureRatePercent")} />
						<FieldErrors problems={p.problems} path="conditions.failureRatePercent" />
						<p class="hint">Failed ÷ (delivered + failed), over the updates received in the last hour. Empty = off.</p>
					</div>
					<div class="field">
						<label for="pendingOlderThanMinutes">Oldest pending update older than (minutes)</label>
						<input id="pendingOlderThanMinutes" name="pendingOlderThanMinutes" type="number" min={1} step={1} value={p.values.pendingOlderThanMinutes} placeholder="off" aria-invalid={inv("conditions.pendingOlderThanMinutes")} />
						<FieldErrors problems={p.problems} path="conditions.pendingOlderThanMinutes" />
						<p class="hint">Updates wait when the hourly budget is spent, the destination is paused or the connection is lost. Empty = off.</p>
					</div>
					<div class="actions">
						<button type="submit" class="btn primary">
							Save alerts
						</button>
					</div>
				</form>
				<div>
					<section class="card">
						<h2>Test the webhook</h2>
						<p class="small muted">Sends a short test message to the saved URL.</p>
						<form method="post" data-needs="manage" action={destinationPath(d.id, "/alerts/test")}>
							<Csrf token={csrf} />
							<button type="submit" class="btn" disabled={!p.saved}>
								Send test message
							</button>
						</form>
						{!p.saved && <p class="small faint">Save a webhook URL first.</p>}
					</section>
					<section class="card" data-testid="alert-state">
						<h2>Right now</h2>
						{state.length === 0 ? (
							<p class="small muted">Nothing has been alerted yet.</p>
						) : (
							<ul class="checklist">
								{state.map(([name, s]) => (
									<li>
										<div class="body">
											<strong>{conditionTitles[name] ?? name}</strong>{" "}
											{s.active ? <Badge tone="bad">Alerting</Badge> : <Badge tone="ok">Clear</Badge>}
											{s.detail && <p>{s.detail}</p>}
											{s.lastSentAt && <p class="faint">last alert {relative(s.lastSentAt)}</p>}
										</div>
									</li>
								))}
							</ul>
						)}
					</section>
				</div>
			</div>
		</Shell>,
		p.problems.length || p.message ? 400 : 200,
	);
}

/** Alerts: the webhook, the three conditions, a test message and the current state. */
export function registerAlerts(app: Hono<ConsoleEnv>): void {
	app.get("/destinations/:id/alerts", async (c) => {
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		const a = await c.var.client.getAlerts(r.destination.id);
		if (!a.ok) return failurePage(c, a);
		const notice = c.req.query("saved") !== undefined ? "Alerts saved." : c.req.query("tested") !== undefined ? "Test message sent." : undefined;
		return alertsPage(c, r.destination, { values: toValues(a.data), state: a.data.state, saved: a.data.webhookUrl !== null, problems: [], notice });
	});

	app.post("/destinations/:id/alerts", async (c) => {
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		const form = AlertsForm.parse(await c.req.parseBody());
		const res = await c.var.client.putAlerts(r.destination.id, alertsBody(form));
		if (res.ok) return c.redirect(destinationPath(r.destination.id, "/alerts?saved=1"), 303);
		if (res.status !== 400) return failurePage(c, res);
		const current = await c.var.client.getAlerts(r.destination.id);
		return alertsPage(c, r.destination, {
			values: form,
			state: current.ok ? current.data.state : {},
			saved: current.ok && current.data.webhookUrl !== null,
			problems: res.problems,
			message: res.problems.length ? undefined : res.message,
		});
	});

	app.post("/destinations/:id/alerts/test", async (c) => {
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		const res = await c.var.client.testAlert(r.destination.id);
		if (res.ok) return c.redirect(destinationPath(r.destination.id, "/alerts?tested=1"), 303);
		const a = await c.var.client.getAlerts(r.destination.id);
		if (!a.ok) return failurePage(c, a);
		return alertsPage(c, r.destination, { values: toValues(a.data), state: a.data.state, saved: a.data.webhookUrl !== null, problems: [], error: res.message });
	});
}
