import type { Hono } from "hono";
import { HourlyChart, SERIES } from "../chart";
import type { Activity, Counts, Destination, Failure, MappingAnswer } from "../../api/client";
import { Callout, Csrf, EmptyState, icons } from "../components";
import type { ConsoleContext, ConsoleEnv } from "../context";
import { duration, ms, num, relative, utc, utcShort } from "../format";
import { ReplayForm } from "../forms";
import { failurePage } from "../guard";
import { DestinationHeader, destinationPath, Shell } from "../layout";
import { destinationOr } from "./shared";

const STAT_ORDER: { key: keyof Counts; label: string; hint: string }[] = [
	{ key: "received", label: "Received", hint: "Profiles AEP sent" },
	{ key: "delivered", label: "Delivered", hint: "Written to Outreach" },
	{ key: "pending", label: "Pending", hint: "Queued, or waiting for the budget" },
	{ key: "held", label: "Held", hint: "Part of pending: kept while the destination is paused or waits for a reconnect; released when it resumes" },
	{ key: "failed", label: "Failed", hint: "Listed below; replayable" },
	{ key: "rejected", label: "Rejected", hint: "Bad input (e.g. no prospect id)" },
	{ key: "skipped", label: "Skipped", hint: "Nothing mapped in the profile" },
	{ key: "superseded", label: "Superseded", hint: "A newer value won" },
];

function Stats({ totals }: { totals: Counts }) {
	return (
		<div class="stats" data-testid="totals">
			{STAT_ORDER.map(({ key, label, hint }) => (
				<div class={key === "received" ? "stat primary" : "stat"} title={hint} data-count={key}>
					<p class="label">
						{key !== "received" && <span class={`swatch sw-${key}`} />}
						{label}
					</p>
					<div class="value">{num(totals[key])}</div>
				</div>
			))}
		</div>
	);
}

function Budget({ activity, d, now }: { activity: Activity; d: Destination; now: number }) {
	const b = activity.budget;
	const limit = b.limit ?? 0;
	const used = b.usedInWindow ?? 0;
	const share = limit > 0 ? Math.min(1, used / limit) : 0;
	const pausedAt = ms(b.pausedUntil);
	const paused = pausedAt !== null && pausedAt > now ? pausedAt : null;
	const oldest = b.oldestPendingAt;
	return (
		<section class="card" data-testid="budget">
			<h2>Outreach budget</h2>
			<p class="small muted">
				{d.outreachUser ? `${d.outreachUser.email}'s calls, shared by all of its destinations.` : "Applies once an Outreach user is connected."}
			</p>
			{limit > 0 && (
				<>
					<div class="meter" role="img" aria-label={`${num(used)} of ${num(limit)} calls used`}>
						<svg viewBox="0 0 100 10" preserveAspectRatio="none">
							<rect class={`fill ${share >= 1 ? "full" : share >= 0.8 ? "high" : ""}`} x="0" y="0" width={(share * 100).toFixed(2)} height="10" />
						</svg>
					</div>
				</>
			)}
			<dl class="facts">
				<dt>Used this window</dt>
				<dd>{limit > 0 ? `${num(used)} of ${num(limit)}` : "—"}</dd>
				<dt>Window</dt>
				<dd>{b.windowSeconds ? duration(b.windowSeconds * 1000) : "—"}</dd>
				<dt>Paused until</dt>
				<dd>{paused ? utcShort(paused, now) : <span class="faint">not paused</span>}</dd>
				<dt>Oldest pending</dt>
				<dd>{oldest ? `${relative(oldest, now)}` : <span class="faint">nothing pending</span>}</dd>
			</dl>
			{paused && (
				<p class="small warn-text">
					Outreach answered 429 (another integration may be spending the same user's budget). Updates resume at {utcShort(paused, now)}; nothing is lost.
				</p>
			)}
		</section>
	);
}

/** "all landed by 07:30 UTC" today, else with the date. */
function landedBy(at: number, now: number): string {
	return `all landed by ${utcShort(at, now)}`;
}

/** How much waits for the Outreach user's budget, and when it will all have landed at the current pace. */
function Backlog({ activity, now }: { activity: Activity; now: number }) {
	const { pending, callsPerHour, etaAt } = activity.backlog;
	const landed = activity.totals.delivered;
	const share = landed + pending > 0 ? landed / (landed + pending) : 1;
	const eta = ms(etaAt);
	const held = activity.totals.held;
	return (
		<section class="card" data-testid="backlog">
			<h2>Backlog</h2>
			{pending === 0 ? (
				<p class="muted" data-testid="backlog-line">Nothing is waiting for Outreach's budget.</p>
			) : (
				<>
					<div class="meter" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share * 100)} aria-label="Share of updates landed">
						<svg viewBox="0 0 100 10" preserveAspectRatio="none">
							<rect class="fill" x="0" y="0" width={(share * 100).toFixed(2)} height="10" />
						</svg>
					</div>
					<p data-testid="backlog-line">
						<strong>{num(pending)} waiting</strong> · at {num(callsPerHour)}/h, {eta === null ? "waiting for a connection" : landedBy(eta, now)}
					</p>
					<p class="small muted">
						Counts the work of every destination this Outreach user connected (they share one budget), in updates: updates of one prospect that
						meet are sent as one call, so it lands no later than this.
					</p>
				</>
			)}
			{held > 0 && <p class="small warn-text">{num(held)} more are held while this destination is paused or waits for a reconnect; they are not counted here.</p>}
			<p class="small" data-testid="delivery-path">
				<span class={`badge ${activity.delivery.path === "bulk" ? "ok" : "neutral"}`}>{activity.delivery.path === "bulk" ? "Bulk (imports and bulk API)" : "PATCH"}</span>{" "}
				{activity.delivery.reason}
			</p>
		</section>
	);
}

function Segments({ activity, mapping }: { activity: Activity; mapping: MappingAnswer | null }) {
	const names = new Map((mapping?.segments ?? []).map((s) => [s.segmentId, s] as const));
	if (activity.segments.length === 0)
		return (
			<EmptyState title="No segment activity yet" compact>
				<p>Counts per segment appear when profiles with mapped segments arrive.</p>
			</EmptyState>
		);
	return (
		<div class="table-wrap">
			<table class="table" data-testid="segments">
				<thead>
					<tr>
						<th>Segment</th>
						<th>Custom field</th>
						{(["received", ...SERIES] as const).map((k) => (
							<th class="num">{k}</th>
						))}
					</tr>
				</thead>
				<tbody>
					{activity.segments.map((s) => {
						const m = names.get(s.segmentId);
						const label = m?.name;
						const mappingId = s.mappingId || m?.mappingId;
						return (
							<tr>
								<td>
									{label && <div class="name">{label}</div>}
									<div class="mono small muted">{s.segmentId}</div>
								</td>
								<td class="nowrap">{mappingId ? `Custom field ${mappingId}` : <span class="faint">not mapped now</span>}</td>
								{(["received", ...SERIES] as const).map((k) => (
									<td class="num">{num(s[k])}</td>
								))}
							</tr>
						);
					})}
				</tbody>
			</table>
		</div>
	);
}

/**
 * Audiences mapped in AEP (Destination SDK package): their Mapping ID comes with every request, so they need no
 * row in our mapping. Where our mapping gives the same segment another Mapping ID, AEP's wins: shown here.
 */
function AepAudiences({ activity, mapping, now }: { activity: Activity; mapping: MappingAnswer | null; now: number }) {
	const ours = new Map((mapping?.segments ?? []).map((s) => [s.segmentId, s.mappingId] as const));
	return (
		<section class="card flush">
			<div class="card-head">
				<div>
					<h2>Audiences mapped in AEP</h2>
					<p class="small muted">Sent by the Outreach destination package with the Mapping ID typed in AEP's scheduling step; AEP's Mapping ID wins over this destination's mapping.</p>
				</div>
			</div>
			<div class="table-wrap">
				<table class="table" data-testid="aep-audiences">
					<thead>
						<tr>
							<th>Segment</th>
							<th>Mapping ID</th>
							<th>First seen</th>
							<th>Last seen</th>
							{(["received", ...SERIES] as const).map((k) => (
								<th class="num">{k}</th>
							))}
						</tr>
					</thead>
					<tbody>
						{activity.aepAudiences.map((a) => {
							const inOurs = ours.get(a.segmentId);
							return (
								<tr>
									<td>
										<div class="mono small">{a.segmentId}</div>
										<div class="small muted">namespace {a.namespace}</div>
									</td>
									<td class="nowrap">
										Custom field {a.mappingId}
										{inOurs !== undefined && inOurs !== a.mappingId && (
											<div class="small bad" data-testid="aep-conflict">
												conflict: this destination's mapping says {inOurs}; AEP's {a.mappingId} is used
											</div>
										)}
									</td>
									<td class="nowrap" title={utc(a.firstSeen)}>{relative(a.firstSeen, now)}</td>
									<td class="nowrap" title={utc(a.lastSeen)}>{relative(a.lastSeen, now)}</td>
									{(["received", ...SERIES] as const).map((k) => (
										<td class="num">{num(a[k])}</td>
									))}
								</tr>
							);
						})}
					</tbody>
				</table>
			</div>
		</section>
	);
}

function Failures({ d, failures, csrf, now }: { d: Destination; failures: Failure[]; csrf: string; now: number }) {
	const action = destinationPath(d.id, "/failures/replay");
	return (
		<section class="card flush" id="failures" data-testid="failures">
			<div class="card-head">
				<div>
					<h2>Failures</h2>
					<p class="small muted">
						Updates Outreach refused. Fix the cause (mapping, a field rule in Outreach), then replay: each is re-mapped from its source data with the
						current mapping, and never overwrites newer data.
					</p>
				</div>
				{failures.length > 0 && (
					<form method="post" data-needs="activate" action={action} data-confirm={`Replay all ${failures.length} failures?`}>
						<Csrf token={csrf} />
						<button type="submit" class="btn" data-testid="replay-all">
							Replay all ({num(failures.length)})
						</button>
					</form>
				)}
			</div>
			{failures.length === 0 ? (
				<EmptyState title="No failures" compact>
					<p>Every accepted update was delivered, superseded, or is still pending.</p>
				</EmptyState>
			) : (
				<div class="table-wrap">
					<table class="table">
						<thead>
							<tr>
								<th>Prospect</th>
								<th>Fields</th>
								<th>Reason</th>
								<th>First failed</th>
								<th class="num">Attempts</th>
								<th></th>
							</tr>
						</thead>
						<tbody>
							{failures.map((f) => (
								<tr data-testid="failure-row">
									<td class="nowrap">#{f.prospectId ?? "?"}</td>
									<td>
										{f.fields.map((x) => (
											<span class="pill">{x}</span>
										))}
									</td>
									<td class="reason">
										{f.reason}
										{f.status === "pending" && <div class="small muted">Replaying…</div>}
									</td>
									<td class="nowrap small" title={utc(f.firstFailedAt)}>
										{relative(f.firstFailedAt, now)}
									</td>
									<td class="num">{f.attempts ?? ""}</td>
									<td class="right">
										<form method="post" data-needs="activate" action={action} class="inline">
											<Csrf token={csrf} />
											<input type="hidden" name="id" value={f.id} />
											<button type="submit" class="btn small" data-testid="replay-one">
												Replay
											</button>
										</form>
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			)}
		</section>
	);
}

function RecentErrors({ items: rows, now }: { items: Activity["recentErrors"]; now: number }) {
	if (rows.length === 0) return null;
	return (
		<section class="card flush" data-testid="recent-errors">
			<div class="card-head">
				<div>
					<h2>Recent errors</h2>
					<p class="small muted">Rejected profiles and refused updates, newest first. AEP is told about rejects in its 202 answer too.</p>
				</div>
			</div>
			<div class="table-wrap">
				<table class="table">
					<thead>
						<tr>
							<th>When</th>
							<th>Kind</th>
							<th>Prospect</th>
							<th>What happened</th>
						</tr>
					</thead>
					<tbody>
						{rows.map((e) => (
							<tr>
								<td class="nowrap small" title={utc(e.at)}>
									{relative(e.at, now)}
								</td>
								<td>
									<span class={`badge ${e.kind === "rejected" ? "neutral" : "bad"}`}>{e.kind}</span>
								</td>
								<td class="nowrap">{e.prospectId !== null ? `#${e.prospectId}` : <span class="faint">—</span>}</td>
								<td>{e.message}</td>
							</tr>
						))}
					</tbody>
				</table>
			</div>
		</section>
	);
}

async function activityPage(c: ConsoleContext, d: Destination, notice?: string, error?: string) {
	const now = Date.now();
	const [activity, failures, mapping] = await Promise.all([
		c.var.client.getActivity(d.id),
		c.var.client.getFailures(d.id),
		c.var.client.getMapping(d.id),
	]);
	if (!activity.ok) return failurePage(c, activity);
	const a = activity.data;
	const list = failures.ok ? failures.data.failures : [];
	return c.html(
		<Shell title={`Activity · ${d.name}`} csrf={c.var.csrf} principal={c.var.principal}>
			<DestinationHeader
				destination={d}
				tab="activity"
				actions={
					<a class="btn" href={destinationPath(d.id, "/activity")}>
						Refresh
					</a>
				}
			/>
			{notice && <Callout tone="ok" testid="flash">{notice}</Callout>}
			{error && <Callout tone="bad" title={error} />}
			{!failures.ok && <Callout tone="bad" title={`Could not load failures: ${failures.message}`} />}
			{!d.enabled && (
				<Callout tone="warn" title="This destination is paused.">
					<p>
						Updates are accepted and held. <a href={destinationPath(d.id)}>Resume it</a> to deliver them.
					</p>
				</Callout>
			)}
			{d.status === "reconnect_required" && (
				<Callout tone="bad" title="Outreach no longer accepts this destination's connection; updates are held.">
					<p>
						<a href={destinationPath(d.id, "#connection")}>Reconnect</a> to deliver them.
					</p>
				</Callout>
			)}
			{a.totals.received === 0 ? (
				<div class="card">
					<EmptyState title="Nothing received yet" icon="inbox">
						<p>When AEP sends profiles to this destination's ingest URL, counts, an hourly chart and any failures appear here.</p>
						<a class="btn primary" href={destinationPath(d.id, "/setup")}>
							Set up AEP
						</a>
					</EmptyState>
				</div>
			) : (
				<>
					<Stats totals={a.totals} />
					<p class="small faint">Every profile received ends as exactly one of the other six. Updated {utcShort(now, now)}.</p>
				</>
			)}
			<div class="grid main-side">
				<section class="card">
					<div class="card-head">
						<div>
							<h2>Last 48 hours</h2>
							<p class="small muted">Profiles received per hour (UTC), by what became of them. Hover a bar for its numbers.</p>
						</div>
						<span class="faint">{icons.chart}</span>
					</div>
					<HourlyChart activity={a} now={now} />
					<div class="legend">
						{SERIES.map((k) => (
							<span>
								<span class={`swatch sw-${k}`} />
								{k}
							</span>
						))}
					</div>
				</section>
				<div class="stack">
					<Backlog activity={a} now={now} />
					<Budget activity={a} d={d} now={now} />
				</div>
			</div>
			<section class="card flush">
				<div class="card-head">
					<div>
						<h2>Segments</h2>
						<p class="small muted">Counts per (update, segment): a profile in two mapped segments counts in both.</p>
					</div>
				</div>
				<Segments activity={a} mapping={mapping.ok ? mapping.data : null} />
			</section>
			{a.aepAudiences.length > 0 && <AepAudiences activity={a} mapping={mapping.ok ? mapping.data : null} now={now} />}
			<Failures d={d} failures={list} csrf={c.var.csrf} now={now} />
			<RecentErrors items={a.recentErrors} now={now} />
		</Shell>,
	);
}

/** Activity: totals, the 48-hour chart, the budget, per-segment counts, failures with Replay, recent errors. */
export function registerActivity(app: Hono<ConsoleEnv>): void {
	app.get("/destinations/:id/activity", async (c) => {
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		const n = c.req.query("replayed");
		const notice = n !== undefined && /^\d+$/.test(n) ? `Replaying ${n === "1" ? "1 failure" : `${n} failures`}. They leave the list once delivered (or superseded by newer data).` : undefined;
		return activityPage(c, r.destination, notice);
	});

	app.post("/destinations/:id/failures/replay", async (c) => {
		const id = c.req.param("id");
		const form = ReplayForm.parse(await c.req.parseBody());
		const res = await c.var.client.replay(id, form.id ? [form.id] : undefined);
		if (res.ok) return c.redirect(destinationPath(id, `/activity?replayed=${res.data.replayed}#failures`), 303);
		if (res.status === 404) return failurePage(c, res);
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		return activityPage(c, r.destination, undefined, `Replay did not start: ${res.message}`);
	});
}
