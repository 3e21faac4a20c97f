import type { Hono } from "hono";
import type { Destination, MappingAnswer } from "../../api/client";
import { Callout, CopyField, Csrf } from "../components";
import type { ConsoleContext, ConsoleEnv } from "../context";
import { failurePage } from "../guard";
import { PublicBaseWarning } from "../public-base-warning";
import { shellQuote } from "../shell";
import { DestinationHeader, destinationPath, Shell } from "../layout";
import { destinationOr } from "./shared";

const TOKEN_PLACEHOLDER = "<your ingest token>";

function curlExample(d: Destination, m: MappingAnswer | null, token: string | undefined): string {
	const ns = m?.identityNamespace || "Oid";
	const seg = m?.segments[0]?.segmentId ?? "<segment id>";
	const profile = {
		person: { name: { firstName: "Ada" } },
		segmentMembership: { ups: { [seg]: { status: "realized", lastQualificationTime: new Date().toISOString().slice(0, 19) + "Z" } } },
		identityMap: { [ns]: [{ id: "1" }] },
	};
	return [
		`curl -X POST ${shellQuote(d.ingestUrl)} \\`,
		`  -H ${shellQuote(`Authorization: Bearer ${token ?? TOKEN_PLACEHOLDER}`)} \\`,
		`  -H ${shellQuote("Content-Type: application/json")} \\`,
		`  -d ${shellQuote(JSON.stringify(profile))}`,
	].join("\n");
}

function setupPage(c: ConsoleContext, d: Destination, m: MappingAnswer | null, token?: string) {
	const csrf = c.var.csrf;
	return c.html(
		<Shell title={`Set up AEP · ${d.name}`} csrf={csrf} principal={c.var.principal}>
			<DestinationHeader destination={d} tab="setup" />
			<PublicBaseWarning env={c.env} />
			{token && (
				<Callout tone="warn" title="New ingest token. Copy it now — it is shown only this once." testid="rotated">
					<p>Paste it into AEP's destination (Bearer token). The previous token stops working within about a minute.</p>
				</Callout>
			)}
			<div class="grid main-side">
				<div>
					<section class="card">
						<h2>1 · Create an HTTP API destination in AEP</h2>
						<p class="small muted">
							In Adobe Experience Platform: <strong>Destinations → Catalog → HTTP API → Set up</strong>. Enter exactly this:
						</p>
						<table class="kv" data-testid="aep-fields">
							<tbody>
								<tr>
									<th>HTTP Endpoint</th>
									<td>
										<CopyField id="ingest-url" value={d.ingestUrl} testid="ingest-url" />
									</td>
								</tr>
								<tr>
									<th>HTTP method</th>
									<td>
										<code>POST</code> <span class="small muted">(AEP's HTTP API destination always posts)</span>
									</td>
								</tr>
								<tr>
									<th>Authentication type</th>
									<td>Bearer token</td>
								</tr>
								<tr>
									<th>Bearer token</th>
									<td>
										{token ? (
											<CopyField id="ingest-token" value={token} secret testid="ingest-token" />
										) : (
											<span class="small muted">
												The ingest token, shown once when the destination was created or its token rotated. Lost it? Rotate below.
											</span>
										)}
										<div class="small muted">
											AEP then sends <code>Authorization: Bearer {token ? "<this token>" : TOKEN_PLACEHOLDER}</code>.
										</div>
									</td>
								</tr>
								<tr>
									<th>Include Segment Names</th>
									<td>
										<strong>On</strong> <span class="small muted">(names appear on the Activity page)</span>
									</td>
								</tr>
								<tr>
									<th>Include Segment Timestamps</th>
									<td>
										<strong>On</strong> <span class="small muted">(orders changes of the same segment correctly)</span>
									</td>
								</tr>
							</tbody>
						</table>
					</section>

					<section class="card">
						<h2>2 · Activate segments</h2>
						<p class="small muted">In the destination's activation flow, select these segments and map these source fields:</p>
						{m && m.segments.length + m.attributes.length > 0 ? (
							<table class="kv">
								<tbody>
									<tr>
										<th>Segments</th>
										<td>
											{m.segments.map((s) => (
												<div>
													<span class="pill">{s.segmentId}</span> {s.name && <span class="small muted">{s.name}</span>}
												</div>
											))}
											{m.segments.length === 0 && <span class="faint">none mapped</span>}
										</td>
									</tr>
									<tr>
										<th>Identity</th>
										<td>
											<span class="pill">identityMap.{m.identityNamespace}</span>
										</td>
									</tr>
									<tr>
										<th>Attributes</th>
										<td>
											{m.attributes.map((a) => (
												<span class="pill">{a.source}</span>
											))}
											{m.attributes.length === 0 && <span class="faint">none mapped</span>}
										</td>
									</tr>
								</tbody>
							</table>
						) : (
							<Callout tone="info" title="Map your segments first.">
								<p>
									<a href={destinationPath(d.id, "/mapping")}>Open the mapping</a>: profiles arriving before it is saved are counted as skipped.
								</p>
							</Callout>
						)}
						<p class="small muted">
							At activation AEP back-fills every profile already in the segments, often thousands within the first hour; they queue and are delivered
							within Outreach's hourly budget — watch it on the Activity page.
						</p>
					</section>

					<section class="card">
						<h2>3 · Try it</h2>
						<p class="small muted">Send one profile yourself; it shows up on the Activity page within seconds.</p>
						<pre class="code">{curlExample(d, m, token)}</pre>
					</section>
				</div>
				<div>
					<section class="card">
						<h2>Rotate the ingest token</h2>
						<p class="small muted">
							Makes a new token and shows it once. The old one keeps working for up to a minute, then AEP's requests with it are refused (401) — update
							AEP right away.
						</p>
						<form method="post" data-needs="manage" action={destinationPath(d.id, "/setup/rotate")} data-confirm="Make a new ingest token? The current one stops working within a minute.">
							<Csrf token={csrf} />
							<button type="submit" class="btn" data-testid="rotate">
								Rotate token
							</button>
						</form>
					</section>
					<section class="card">
						<h2>What AEP will see</h2>
						<ul class="small muted">
							<li>
								<code>202</code> within milliseconds: accepted, with a list of rejected profiles (e.g. no prospect id).
							</li>
							<li>
								<code>401</code>: wrong token or unknown destination — AEP does not retry.
							</li>
							<li>
								<code>413</code>: request over the size limit.
							</li>
						</ul>
					</section>
				</div>
			</div>
		</Shell>,
	);
}

/** "Set up AEP": the ingest URL, what to enter in AEP, and token rotation (the new token shown once). */
export function registerSetup(app: Hono<ConsoleEnv>): void {
	app.get("/destinations/:id/setup", async (c) => {
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		const m = await c.var.client.getMapping(r.destination.id);
		return setupPage(c, r.destination, m.ok ? m.data : null);
	});

	app.post("/destinations/:id/setup/rotate", async (c) => {
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		const [rotated, m] = await Promise.all([c.var.client.rotateIngestToken(r.destination.id), c.var.client.getMapping(r.destination.id)]);
		if (!rotated.ok) return failurePage(c, rotated);
		return setupPage(c, r.destination, m.ok ? m.data : null, rotated.data.ingestToken);
	});
}
