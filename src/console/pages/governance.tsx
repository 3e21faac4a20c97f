import type { Hono } from "hono";
import { z } from "zod";
import { may } from "../../api/permissions";
import type { Trace } from "../../api/client";
import { Callout, Csrf, EmptyState } from "../components";
import type { ConsoleContext, ConsoleEnv } from "../context";
import { failurePage, messagePage } from "../guard";
import { Shell } from "../layout";

/**
 * Who did what and what is held: the Audit page (GET /api/audit), "Find a prospect" (the prospect trace, and
 * erasure for the manage role) and the Keys page (manage). Each calls the API as the signed-in person, so the API's
 * guard decides; the pages only hide what the person's role may not do.
 */

const AuditQuery = z.object({ destinationId: z.string().trim().max(64).optional(), before: z.string().regex(/^\d{1,15}$/).optional() });
const FindQuery = z.object({ destinationId: z.string().trim().max(64).optional(), prospectId: z.string().trim().max(20).optional() });
const KeyForm = z.object({ name: z.string().trim(), role: z.string() });
const EraseForm = z.object({ destinationId: z.string().trim().max(64), prospectId: z.string().trim().max(20), confirm: z.literal("on", { error: "tick the box to confirm" }) });

async function auditPage(c: ConsoleContext) {
	const q = AuditQuery.safeParse(c.req.query());
	const query = q.success ? q.data : {};
	const res = await c.var.client.listAudit({ limit: "50", ...(query.destinationId ? { destinationId: query.destinationId } : {}), ...(query.before ? { before: query.before } : {}) });
	if (!res.ok) return failurePage(c, res);
	const { entries, nextBefore } = res.data;
	return c.html(
		<Shell title="Audit" csrf={c.var.csrf} principal={c.var.principal}>
			<div class="page-head">
				<div>
					<h1>Audit</h1>
					<p>Every change made through the API or this console: when, who, what, and what it was before. Never a secret or a profile value.</p>
				</div>
			</div>
			<form method="get" action="/audit" class="card">
				<div class="field">
					<label for="destinationId">Destination id (optional)</label>
					<input id="destinationId" name="destinationId" value={query.destinationId ?? ""} />
				</div>
				<button type="submit" class="btn">
					Filter
				</button>
			</form>
			{entries.length === 0 ? (
				<div class="card">
					<EmptyState title="Nothing recorded yet">
						<p>Changes appear here as they are made.</p>
					</EmptyState>
				</div>
			) : (
				<div class="card flush table-wrap">
					<table class="table" data-testid="audit">
						<thead>
							<tr>
								<th>When (UTC)</th>
								<th>Who</th>
								<th>What</th>
								<th>Destination</th>
								<th>Change</th>
							</tr>
						</thead>
						<tbody>
							{entries.map((e) => (
								<tr>
									<td>{e.at.replace("T", " ").slice(0, 19)}</td>
									<td>{e.actor}</td>
									<td>
										<code>{e.action}</code>
									</td>
									<td>{e.destinationId ? <a href={`/destinations/${encodeURIComponent(e.destinationId)}`}>{e.destinationId.slice(0, 8)}</a> : "—"}</td>
									<td>{e.summary}</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			)}
			{nextBefore !== null && (
				<a class="btn" href={`/audit?${new URLSearchParams({ ...(query.destinationId ? { destinationId: query.destinationId } : {}), before: String(nextBefore) })}`}>
					Older entries
				</a>
			)}
		</Shell>,
	);
}

function TraceView({ trace }: { trace: Trace }) {
	return (
		<div class="card" data-testid="trace">
			<h2>Prospect {trace.prospectId}</h2>
			<table class="table">
				<thead>
					<tr>
						<th>Field</th>
						<th>Newest value</th>
						<th>State</th>
						<th>When (UTC)</th>
					</tr>
				</thead>
				<tbody>
					{trace.fields.map((f) => (
						<tr>
							<td>
								<code>{f.field}</code>
							</td>
							<td>{JSON.stringify(f.value)}</td>
							<td>{f.state}</td>
							<td>{f.at.replace("T", " ").slice(0, 19)}</td>
						</tr>
					))}
				</tbody>
			</table>
			<h3>Recent events</h3>
			<ul>
				{trace.events.map((e) => (
					<li>
						{e.at.replace("T", " ").slice(0, 19)} · <strong>{e.kind}</strong> · {e.detail}
					</li>
				))}
			</ul>
		</div>
	);
}

async function findPage(c: ConsoleContext, notice?: string) {
	const q = FindQuery.safeParse(c.req.query());
	const query = q.success ? q.data : {};
	let result = null;
	let problem: string | null = null;
	if (query.destinationId && query.prospectId) {
		const res = await c.var.client.traceProspect(query.destinationId, query.prospectId);
		if (res.ok) result = res.data;
		else problem = res.message;
	}
	const canErase = may(c.var.principal, "POST /destinations/:id/erasures");
	return c.html(
		<Shell title="Find a prospect" csrf={c.var.csrf} principal={c.var.principal}>
			<div class="page-head">
				<div>
					<h1>Find a prospect</h1>
					<p>What this product holds for one Outreach prospect of one destination: each field's newest value, its state, and recent events.</p>
				</div>
			</div>
			{notice && (
				<Callout tone="ok" testid="flash">
					{notice}
				</Callout>
			)}
			<form method="get" action="/prospects" class="card">
				<div class="field">
					<label for="destinationId">Destination id</label>
					<input id="destinationId" name="destinationId" required value={query.destinationId ?? ""} />
				</div>
				<div class="field">
					<label for="prospectId">Outreach prospect id</label>
					<input id="prospectId" name="prospectId" required inputmode="numeric" value={query.prospectId ?? ""} />
				</div>
				<button type="submit" class="btn primary">
					Find
				</button>
			</form>
			{problem && (
				<Callout tone="warn" testid="trace-problem">
					<p>{problem}</p>
				</Callout>
			)}
			{result && <TraceView trace={result} />}
			{result && canErase && (
				<form method="post" action="/prospects/erase" class="card" data-testid="erase">
					<Csrf token={c.var.csrf} />
					<input type="hidden" name="destinationId" value={query.destinationId} />
					<input type="hidden" name="prospectId" value={query.prospectId} />
					<p>
						Erase everything this destination holds for this prospect: values, versions, pending and held updates, failures and events. Pending work
						for them is never sent. The prospect's record in Outreach is Outreach's to erase.
					</p>
					<label>
						<input type="checkbox" name="confirm" /> I want to erase prospect {query.prospectId}
					</label>
					<button type="submit" class="btn danger">
						Erase
					</button>
				</form>
			)}
		</Shell>,
	);
}

async function keysPage(c: ConsoleContext, created?: { name: string; key: string; role: string }, error?: string) {
	const res = await c.var.client.listKeys();
	if (!res.ok) return failurePage(c, res);
	return c.html(
		<Shell title="API keys" csrf={c.var.csrf} principal={c.var.principal}>
			<div class="page-head">
				<div>
					<h1>API keys</h1>
					<p>
						Keys for people and scripts, each with a role: <strong>view</strong> reads everything but keys; <strong>activate</strong> also edits
						mappings, replays failures, pauses and renames; <strong>manage</strong> does everything. A deleted key stops working at once.
					</p>
				</div>
			</div>
			{created && (
				<Callout tone="ok" title={`Key "${created.name}" created with role ${created.role}`} testid="new-key">
					<p>Copy it now: it is shown only this once, and stored only as a hash.</p>
					<code>{created.key}</code>
				</Callout>
			)}
			{error && (
				<Callout tone="bad" testid="key-error">
					<p>{error}</p>
				</Callout>
			)}
			<form method="post" action="/keys" class="card">
				<Csrf token={c.var.csrf} />
				<div class="field">
					<label for="name">Name (who or what uses it)</label>
					<input id="name" name="name" required maxlength={100} />
				</div>
				<div class="field">
					<label for="role">Role</label>
					<select id="role" name="role">
						<option value="view">view</option>
						<option value="activate">activate</option>
						<option value="manage">manage</option>
					</select>
				</div>
				<button type="submit" class="btn primary">
					Create key
				</button>
			</form>
			<div class="card flush table-wrap">
				<table class="table" data-testid="keys">
					<thead>
						<tr>
							<th>Name</th>
							<th>Role</th>
							<th>Created</th>
							<th>Last used</th>
							<th></th>
						</tr>
					</thead>
					<tbody>
						{res.data.keys.map((k) => (
							<tr>
								<td>
									{k.name} <span class="muted small">{k.id}</span>
								</td>
								<td>{k.role}</td>
								<td>{k.createdAt.slice(0, 10)}</td>
								<td>{k.lastUsedAt ? k.lastUsedAt.replace("T", " ").slice(0, 16) : "never"}</td>
								<td>
									<form method="post" action={`/keys/${k.id}/delete`}>
										<Csrf token={c.var.csrf} />
										<button type="submit" class="btn link danger">
											Delete
										</button>
									</form>
								</td>
							</tr>
						))}
					</tbody>
				</table>
			</div>
		</Shell>,
	);
}

export function registerGovernance(app: Hono<ConsoleEnv>): void {
	app.get("/audit", (c) => auditPage(c));
	app.get("/prospects", (c) => findPage(c));
	app.post("/prospects/erase", async (c) => {
		const form = EraseForm.safeParse(await c.req.parseBody());
		if (!form.success)
			return messagePage(c, 400, "Not erased", <Callout tone="warn" title="Tick the confirmation box to erase, and name a destination and a prospect." />);
		const res = await c.var.client.erase(form.data.destinationId, [form.data.prospectId]);
		if (!res.ok) return failurePage(c, res);
		return c.redirect(`/prospects?${new URLSearchParams({ destinationId: form.data.destinationId, prospectId: form.data.prospectId, erased: "1" })}`, 303);
	});
	app.get("/keys", (c) => keysPage(c));
	app.post("/keys", async (c) => {
		const form = KeyForm.safeParse(await c.req.parseBody());
		const res = await c.var.client.createKey(form.success ? form.data : { name: "", role: "" });
		if (!res.ok) return res.status === 400 ? keysPage(c, undefined, res.message) : failurePage(c, res);
		return keysPage(c, res.data);
	});
	app.post("/keys/:id/delete", async (c) => {
		const res = await c.var.client.deleteKey(c.req.param("id"));
		if (!res.ok) return failurePage(c, res);
		return c.redirect("/keys", 303);
	});
}
