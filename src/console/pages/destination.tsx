import type { Hono } from "hono";
import type { Child } from "hono/jsx";
import { ApiError } from "../../platform/errors";
import { beginConnect } from "../../oauth/begin";
import { may, PERMISSIONS } from "../../api/permissions";
import { plural, relative } from "../format";
import type { Destination, Problem } from "../../api/client";
import { Callout, CopyField, Csrf, FieldErrors } from "../components";
import { PublicBaseWarning } from "../public-base-warning";
import type { ConsoleContext, ConsoleEnv } from "../context";
import { DeleteForm, DestinationForm } from "../forms";
import { failurePage } from "../guard";
import { DestinationHeader, destinationPath, Shell } from "../layout";
import { destinationOr, notice } from "./shared";

type OverviewOptions = {
	/** The ingest token, shown once right after the destination was created. */
	createdToken?: string;
	/** A form that did not save: its values and the API's problems. */
	form?: { name: string; description: string; enabled: boolean; bulkApi: boolean; problems: Problem[]; message?: string };
	error?: string;
};

function ConnectForm({ d, csrf, label, primary }: { d: Destination; csrf: string; label: string; primary?: boolean }) {
	return (
		<form method="post" data-needs="manage" action={destinationPath(d.id, "/connect")} class="inline">
			<Csrf token={csrf} />
			<button type="submit" class={primary ? "btn primary" : "btn"} data-testid="connect">
				{label}
			</button>
		</form>
	);
}

function ConnectionCard({ d, csrf }: { d: Destination; csrf: string }) {
	const user = d.outreachUser;
	return (
		<section class="card" data-testid="connection">
			<div class="card-head">
				<div>
					<h2>Outreach connection</h2>
					<p class="small muted">Updates are written as this Outreach user, within its budget of calls per hour (shared by its destinations).</p>
				</div>
			</div>
			{d.status === "connected" && user && (
				<div class="connection">
					<div class="avatar" aria-hidden="true">
						{user.email.slice(0, 1).toUpperCase()}
					</div>
					<div>
						<div>
							<span class="badge ok">Connected ✓</span> <span class="who" data-testid="connected-user">{user.email}</span>
						</div>
						<div class="small muted">Outreach user #{user.id}</div>
					</div>
					<span class="actions">
						<ConnectForm d={d} csrf={csrf} label="Reconnect" />
						<form method="post" data-needs="manage" action={destinationPath(d.id, "/disconnect")} class="inline" data-confirm="Disconnect from Outreach? Updates will be held until you connect again.">
							<Csrf token={csrf} />
							<button type="submit" class="btn danger">
								Disconnect
							</button>
						</form>
					</span>
				</div>
			)}
			{d.status === "reconnect_required" && (
				<>
					<Callout tone="bad" title={`Outreach no longer accepts this connection${user ? ` (${user.email})` : ""}.`}>
						<p>{d.statusReason ?? "The grant was revoked, the password changed, or a scope is missing."}</p>
						<p>Updates are held, not lost. Reconnect to deliver them.</p>
					</Callout>
					<ConnectForm d={d} csrf={csrf} label="Reconnect to Outreach →" primary />
				</>
			)}
			{d.status === "confirmation_required" && d.pendingOutreachUser && (
				<>
					<Callout tone="warn" title={`Confirm the Outreach user: ${d.pendingOutreachUser.email}`} testid="confirm-connection">
						<p>
							A sign-in started through the API was completed at Outreach as <strong>{d.pendingOutreachUser.email}</strong> (Outreach user #
							{d.pendingOutreachUser.id}). Such a link is not tied to your console session, so nothing is connected until you confirm it was
							meant. Unconfirmed, it is dropped after 10 minutes.
						</p>
					</Callout>
					<span class="actions">
						<form method="post" data-needs="manage" action={destinationPath(d.id, "/connection/confirm")} class="inline">
							<Csrf token={csrf} />
							<button type="submit" class="btn primary" data-testid="confirm">
								Confirm {d.pendingOutreachUser.email}
							</button>
						</form>
						<ConnectForm d={d} csrf={csrf} label="Sign in again instead" />
					</span>
				</>
			)}
			{d.status !== "connected" && d.status !== "reconnect_required" && d.status !== "confirmation_required" && (
				<>
					<p>
						<span class="badge neutral">Not connected</span>
					</p>
					<p class="muted small">You will sign in at Outreach with the user whose prospects this destination updates, then come back here.</p>
					<ConnectForm d={d} csrf={csrf} label="Connect to Outreach →" primary />
				</>
			)}
		</section>
	);
}

type Step = { done: boolean; title: string; detail: Child; href: string; action: string };

function Checklist({ steps }: { steps: Step[] }) {
	const firstTodo = steps.findIndex((s) => !s.done);
	return (
		<ol class="checklist" data-testid="checklist">
			{steps.map((s, i) => (
				<li>
					<span class={`step ${s.done ? "done" : i === firstTodo ? "todo" : ""}`}>{s.done ? "✓" : i + 1}</span>
					<div class="body">
						<strong>{s.title}</strong>
						<p>{s.detail}</p>
					</div>
					<a class={`btn small go ${i === firstTodo ? "primary" : ""}`} href={s.href}>
						{s.action}
					</a>
				</li>
			))}
		</ol>
	);
}

async function steps(c: ConsoleContext, d: Destination): Promise<Step[]> {
	const [mapping, activity, alerts] = await Promise.all([
		c.var.client.getMapping(d.id),
		c.var.client.getActivity(d.id),
		c.var.client.getAlerts(d.id),
	]);
	const m = mapping.ok ? mapping.data : null;
	const received = activity.ok ? activity.data.totals.received : 0;
	const hook = alerts.ok ? alerts.data.webhookUrl : null;
	return [
		{
			done: d.status === "connected",
			title: "Connect to Outreach",
			detail: d.status === "connected" ? `Signed in as ${d.outreachUser?.email ?? "an Outreach user"}.` : "Sign in as the Outreach user whose prospects you update.",
			href: "#connection",
			action: d.status === "connected" ? "Manage" : "Connect",
		},
		{
			done: m !== null && m.segments.length + m.attributes.length > 0,
			title: "Map segments and fields",
			detail: m
				? `${plural(m.segments.length, "segment")} → ${m.segments.map((s) => `Custom field ${s.mappingId}`).join(", ") || "no custom field"}; ${plural(m.attributes.length, "attribute")}; identity ${m.identityNamespace} → OutreachId.`
				: "Which AEP identity holds the prospect id, which segment writes which custom field, which attributes to copy.",
			href: destinationPath(d.id, "/mapping"),
			action: m ? "Edit mapping" : "Map",
		},
		{
			done: received > 0,
			title: "Set up AEP's HTTP API destination",
			detail: received > 0 ? `Profiles are arriving: ${plural(received, "profile")} received so far.` : "Give AEP the ingest URL and token, and activate your segments. Nothing received yet.",
			href: destinationPath(d.id, "/setup"),
			action: "Show what to enter",
		},
		{
			done: hook !== null,
			title: "Alerts (optional)",
			detail: hook ? "A webhook gets a message when the connection is lost, failures rise or updates wait too long." : "Get a Slack (or any webhook) message when something needs you.",
			href: destinationPath(d.id, "/alerts"),
			action: hook ? "Edit alerts" : "Set up alerts",
		},
		{
			done: received > 0 && activity.ok && activity.data.totals.delivered > 0,
			title: "Validate",
			detail: "Check counts per segment, what waits for the hourly budget, and failures with a Replay button.",
			href: destinationPath(d.id, "/activity"),
			action: "Open activity",
		},
	];
}

/** A destination's overview: connection, set-up checklist, details and deletion. */
export async function overviewPage(c: ConsoleContext, d: Destination, opts: OverviewOptions = {}) {
	const csrf = c.var.csrf;
	const form = opts.form ?? { name: d.name, description: d.description, enabled: d.enabled, bulkApi: d.bulkApi, problems: [] };
	const flash =
		c.req.query("connected") !== undefined && d.status === "connected"
			? `Connected to Outreach as ${d.outreachUser?.email ?? "your user"}.`
			: notice(c, { saved: "Details saved.", disconnected: "Disconnected from Outreach. Updates are held until you connect again." });
	const status = opts.form?.problems.length || opts.form?.message || opts.error ? 400 : 200;
	return c.html(
		<Shell title={d.name} csrf={csrf} principal={c.var.principal}>
			<DestinationHeader destination={d} tab="overview" />
			<PublicBaseWarning env={c.env} />
			{flash && <Callout tone="ok" testid="flash">{flash}</Callout>}
			{opts.error && <Callout tone="bad" title={opts.error} />}
			{opts.createdToken && (
				<Callout tone="warn" title="Destination created. Copy its ingest token now — it is shown only this once." testid="created">
					<p>AEP sends it as <code>Authorization: Bearer …</code>. If you lose it, rotate it on the Set up AEP page.</p>
					<CopyField id="ingest-token" value={opts.createdToken} secret testid="ingest-token" />
				</Callout>
			)}
			<div class="grid main-side">
				<div>
					<div id="connection">
						<ConnectionCard d={d} csrf={csrf} />
					</div>
					<section class="card">
						<h2>Set-up</h2>
						<p class="small muted">The same steps as Adobe's own Outreach destination, plus what you need to watch it.</p>
						<Checklist steps={await steps(c, d)} />
					</section>
				</div>
				<div>
					<form class="card" data-needs="activate" method="post" action={destinationPath(d.id)}>
						<h2>Details</h2>
						<Csrf token={csrf} />
						{opts.form?.message && <Callout tone="bad">{opts.form.message}</Callout>}
						<div class="field">
							<label for="name">Name</label>
							<input id="name" name="name" type="text" value={form.name} required maxlength={200} aria-invalid={form.problems.some((p) => p.path === "name") ? "true" : undefined} />
							<FieldErrors problems={form.problems} path="name" />
						</div>
						<div class="field">
							<label for="description">Description</label>
							<textarea id="description" name="description" maxlength={2000}>
								{form.description}
							</textarea>
							<FieldErrors problems={form.problems} path="description" />
						</div>
						<div class="field">
							<label class="check">
								<input type="checkbox" name="enabled" checked={form.enabled} />
								<span>
									Deliver updates to Outreach
									<small>When off (Paused), AEP's updates are still accepted and held — nothing is lost — and delivered when you switch it back on.</small>
								</span>
							</label>
						</div>
						<div class="field">
							<label class="check">
								<input type="checkbox" name="bulkApi" checked={form.bulkApi} data-testid="bulk-api" />
								<span>
									Use Outreach's bulk API — needs the batches scopes; reconnect to grant them
									<small>
										Segment statuses then go in bulk (one request sets one field to one value on up to 10,000 prospects), so a back-fill lands in
										minutes instead of days; attributes still go by PATCH. Whenever bulk is not possible, updates go by PATCH.
									</small>
								</span>
							</label>
						</div>
						<button type="submit" class="btn primary">
							Save details
						</button>
					</form>
					<form class="card danger-zone" data-needs="manage" method="post" action={destinationPath(d.id, "/delete")} data-confirm={`Delete “${d.name}” and everything it holds?`}>
						<h2>Delete destination</h2>
						<Csrf token={csrf} />
						<p class="small muted">Erases its mapping, counts, failures and Outreach grant. AEP's requests to its URL will be refused.</p>
						<label class="check small">
							<input type="checkbox" name="confirm" required />
							<span>I understand this cannot be undone</span>
						</label>
						<div class="actions">
							<button type="submit" class="btn danger">
								Delete
							</button>
						</div>
					</form>
					<section class="card">
						<h2>Identifiers</h2>
						<p class="small muted">Destination id (for the API and <code>wrangler tail</code> filters):</p>
						<CopyField id="destination-id" value={d.id} />
						<p class="small faint">Created {relative(Date.parse(d.createdAt))}.</p>
					</section>
				</div>
			</div>
		</Shell>,
		status,
	);
}

/** The overview page and its forms: details, connect, disconnect, delete. */
export function registerDestination(app: Hono<ConsoleEnv>): void {
	app.get("/destinations/:id", async (c) => {
		const r = await destinationOr(c);
		return "response" in r ? r.response : overviewPage(c, r.destination);
	});

	app.post("/destinations/:id", async (c) => {
		const id = c.req.param("id");
		const form = DestinationForm.parse(await c.req.parseBody());
		const res = await c.var.client.updateDestination(id, form);
		if (res.ok) return c.redirect(destinationPath(id, "?saved=1"), 303);
		if (res.status !== 400) return failurePage(c, res);
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		return overviewPage(c, r.destination, { form: { ...form, problems: res.problems, message: res.problems.length ? undefined : res.message } });
	});

	app.post("/destinations/:id/connection/confirm", async (c) => {
		const id = c.req.param("id");
		const res = await c.var.client.confirmConnection(id);
		if (res.ok) return c.redirect(destinationPath(id, "?connected=1"), 303);
		if (res.status !== 409) return failurePage(c, res);
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		return overviewPage(c, r.destination, { error: res.message });
	});

	app.post("/destinations/:id/connect", async (c) => {
		// The one console action that does not go through the API (its sign-in is bound to this session), so the
		// role check of the API's table is made here, from the same table; the callback is audited.
		if (!may(c.var.principal, "POST /destinations/:id/connect")) {
			const { role, action } = PERMISSIONS["POST /destinations/:id/connect"];
			return failurePage(c, { ok: false, status: 403, code: "forbidden", message: `${action} needs the ${role} role`, problems: [] });
		}
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		try {
			return c.redirect(await beginConnect(c.env, c.req.url, r.destination, c.var.session.id), 303);
		} catch (err) {
			if (!(err instanceof ApiError)) throw err;
			return overviewPage(c, r.destination, { error: `Could not start connecting: ${err.message}` });
		}
	});

	app.post("/destinations/:id/disconnect", async (c) => {
		const id = c.req.param("id");
		const res = await c.var.client.disconnect(id);
		return res.ok ? c.redirect(destinationPath(id, "?disconnected=1"), 303) : failurePage(c, res);
	});

	app.post("/destinations/:id/delete", async (c) => {
		const id = c.req.param("id");
		const form = DeleteForm.parse(await c.req.parseBody());
		if (!form.confirm) {
			const r = await destinationOr(c);
			if ("response" in r) return r.response;
			return overviewPage(c, r.destination, { error: "Tick “I understand this cannot be undone” to delete the destination." });
		}
		const res = await c.var.client.deleteDestination(id);
		return res.ok ? c.redirect("/?deleted=1", 303) : failurePage(c, res);
	});
}
