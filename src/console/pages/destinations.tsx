import type { Hono } from "hono";
import type { Activity, Destination, Problem } from "../../api/client";
import { Callout, Csrf, EmptyState, FieldErrors, StatusBadges } from "../components";
import { PublicBaseWarning } from "../public-base-warning";
import type { ConsoleContext, ConsoleEnv } from "../context";
import { num, relative, startOfUtcDay } from "../format";
import { CreateDestinationForm } from "../forms";
import { failurePage } from "../guard";
import { Shell, destinationPath } from "../layout";
import { overviewPage } from "./destination";

/** Updates received today (UTC), from the activity's hourly counts. */
function receivedToday(activity: Activity | null, now = Date.now()): number | null {
	if (!activity) return null;
	const start = startOfUtcDay(now);
	return activity.hours.reduce((sum, h) => (Date.parse(h.hour) >= start ? sum + h.received : sum), 0);
}

async function listPage(c: ConsoleContext) {
	const list = await c.var.client.listDestinations();
	if (!list.ok) return failurePage(c, list);
	const destinations = list.data.destinations;
	const activities = await Promise.all(destinations.map((d) => c.var.client.getActivity(d.id)));
	const rows = destinations.map((d, i) => {
		const a = activities[i];
		return { d, today: a?.ok ? receivedToday(a.data) : null, failed: a?.ok ? a.data.totals.failed : 0 };
	});
	return c.html(
		<Shell title="Destinations" csrf={c.var.csrf} principal={c.var.principal}>
			<div class="page-head">
				<div>
					<h1>Destinations</h1>
					<p>Each destination takes AEP's profile updates at its own ingest URL and writes them to one Outreach user's prospects.</p>
				</div>
				{rows.length > 0 && (
					<a class="btn primary" data-needs="manage" href="/destinations/new">
						New destination
					</a>
				)}
			</div>
			<PublicBaseWarning env={c.env} />
			{c.req.query("deleted") !== undefined && <Callout tone="ok" testid="flash">The destination was deleted.</Callout>}
			{rows.length === 0 ? (
				<div class="card">
					<EmptyState title="No destinations yet — create one">
						<p>
							A destination connects one Outreach user, maps your AEP segments to Outreach custom fields, and gives AEP an ingest URL to stream
							to. It takes about five minutes.
						</p>
						<a class="btn primary" data-needs="manage" href="/destinations/new">
							Create a destination
						</a>
					</EmptyState>
				</div>
			) : (
				<div class="card flush table-wrap">
					<table class="table" data-testid="destinations">
						<thead>
							<tr>
								<th>Destination</th>
								<th>Status</th>
								<th>Outreach user</th>
								<th class="num">Today (UTC)</th>
								<th class="num">Failed</th>
							</tr>
						</thead>
						<tbody>
							{rows.map(({ d, today, failed }) => (
								<DestinationRow d={d} today={today} failed={failed} />
							))}
						</tbody>
					</table>
				</div>
			)}
		</Shell>,
	);
}

function DestinationRow({ d, today, failed }: { d: Destination; today: number | null; failed: number }) {
	return (
		<tr>
			<td>
				<a class="name" href={destinationPath(d.id)}>
					{d.name}
				</a>
				{d.description && <div class="small muted">{d.description}</div>}
				<div class="small faint">created {relative(Date.parse(d.createdAt))}</div>
			</td>
			<td>
				<StatusBadges destination={d} />
			</td>
			<td>{d.outreachUser ? d.outreachUser.email : <span class="faint">—</span>}</td>
			<td class="num">{today === null ? <span class="faint">—</span> : `${num(today)} received`}</td>
			<td class="num">
				{failed > 0 ? (
					<a href={destinationPath(d.id, "/activity#failures")}>{num(failed)}</a>
				) : (
					<span class="faint">0</span>
				)}
			</td>
		</tr>
	);
}

function newPage(c: ConsoleContext, values: { name: string; description: string }, problems: Problem[], message?: string) {
	return c.html(
		<Shell title="New destination" csrf={c.var.csrf} principal={c.var.principal}>
			<div class="crumbs">
				<a href="/">Destinations</a> / New
			</div>
			<div class="page-head">
				<div>
					<h1>New destination</h1>
					<p>Step 1 of 4. Next you will connect Outreach, map segments and fields, and give AEP the ingest URL.</p>
				</div>
			</div>
			<div class="grid main-side">
				<form class="card" method="post" action="/destinations">
					<Csrf token={c.var.csrf} />
					{message && (
						<Callout tone="bad">
							<p>{message}</p>
						</Callout>
					)}
					<div class="field">
						<label for="name">Name</label>
						<input id="name" name="name" type="text" value={values.name} required maxlength={200} autofocus placeholder="e.g. Outreach — EMEA sales" aria-invalid={problems.some((p) => p.path === "name") ? "true" : undefined} />
						<FieldErrors problems={problems} path="name" />
						<p class="hint">How you will recognise it here and in alerts.</p>
					</div>
					<div class="field">
						<label for="description">Description <span class="faint">(optional)</span></label>
						<textarea id="description" name="description" maxlength={2000} placeholder="What this destination is for, who owns it">
							{values.description}
						</textarea>
						<FieldErrors problems={problems} path="description" />
					</div>
					<div class="actions">
						<button class="btn primary" type="submit">
							Create destination
						</button>
						<a class="btn link" href="/">
							Cancel
						</a>
					</div>
				</form>
				<div class="card">
					<h2>What happens next</h2>
					<ol class="small muted">
						<li>You get an ingest token — copy it, it is shown once.</li>
						<li>Connect an Outreach user (its hourly budget of 10,000 calls is shared by its destinations).</li>
						<li>Map the identity namespace, attributes and segments.</li>
						<li>Add an HTTP API destination in AEP with the URL and token.</li>
					</ol>
				</div>
			</div>
		</Shell>,
		problems.length || message ? 400 : 200,
	);
}

/** The destinations list and the create form. */
export function registerDestinations(app: Hono<ConsoleEnv>): void {
	app.get("/", listPage);
	app.get("/destinations", (c) => c.redirect("/", 303));
	app.get("/destinations/new", (c) => newPage(c, { name: "", description: "" }, []));
	app.post("/destinations", async (c) => {
		const form = CreateDestinationForm.parse(await c.req.parseBody());
		const res = await c.var.client.createDestination({ name: form.name, description: form.description });
		if (!res.ok) return res.status === 400 ? newPage(c, form, res.problems, res.problems.length ? undefined : res.message) : failurePage(c, res);
		return overviewPage(c, res.data, { createdToken: res.data.ingestToken });
	});
}
