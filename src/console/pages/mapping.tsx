import type { Hono } from "hono";
import { statusWord } from "../../destinations/mapping";
import { customField, customFieldNumber, isArrayAttribute, mappableAttributes } from "../../outreach/attributes";
import type { Destination, MappingAnswer, Problem, VerifyAnswer } from "../../api/client";
import { Callout, Csrf, FieldErrors, problemsAt } from "../components";
import type { ConsoleContext, ConsoleEnv } from "../context";
import { emptyDraft, mappingBody, mappingDraftFromForm, type AttributeRow, type MappingDraft, type SegmentRow } from "../forms";
import { failurePage } from "../guard";
import { DestinationHeader, destinationPath, Shell } from "../layout";
import { destinationOr } from "./shared";

/** Blank rows offered after the filled ones, so the form works without JavaScript. */
const SPARE_ROWS = 2;

function draftFrom(m: MappingAnswer): MappingDraft {
	return {
		identityNamespace: m.identityNamespace,
		attributes: m.attributes.map((a) => ({ source: a.source, target: a.target })),
		segments: m.segments.map((s) => ({ segmentId: s.segmentId, name: s.name ?? "", mappingId: String(s.mappingId) })),
		statusValues: { realized: m.statusValues?.realized ?? "", existing: m.statusValues?.existing ?? "", exited: m.statusValues?.exited ?? "" },
	};
}

const invalid = (problems: Problem[], path: string) => (problemsAt(problems, path).length ? "true" : undefined);

function customLabel(mappingId: string): string {
	// Outreach's attribute list decides which customN exist (1–150).
	const n = /^\d+$/.test(mappingId.trim()) ? customFieldNumber(customField(Number(mappingId))) : null;
	return n === null ? "Enter a number from 1 to 150" : `→ Custom field ${n} (${customField(n)})`;
}

function SegmentRowView({ i, row, problems, verify }: { i: number | "__i__"; row: SegmentRow; problems: Problem[]; verify: string[] }) {
	const p = (f: string) => `segments.${i}.${f}`;
	return (
		<tr data-testid="segment-row">
			<td>
				<input type="text" name={p("segmentId")} value={row.segmentId} placeholder="e.g. 8d3c5f1e-6b1a-4c1e-…" class="mono" aria-label="AEP segment id" aria-invalid={invalid(problems, p("segmentId"))} />
				<FieldErrors problems={problems} path={p("segmentId")} />
				<FieldErrors problems={problems} path={`segments.${i}`} />
			</td>
			<td>
				<input type="text" name={p("name")} value={row.name} placeholder="e.g. Trial users" aria-label="Segment name (optional)" aria-invalid={invalid(problems, p("name"))} />
				<FieldErrors problems={problems} path={p("name")} />
			</td>
			<td>
				<input
					type="number"
					name={p("mappingId")}
					value={row.mappingId}
					min={1}
					max={150}
					step={1}
					class="mapping-id"
					placeholder="1–150"
					aria-label="Mapping ID"
					data-mapping-id
					aria-invalid={invalid(problems, p("mappingId")) ?? (verify.length ? "true" : undefined)}
				/>
				<span class="custom-label">{row.mappingId ? customLabel(row.mappingId) : "Outreach's Custom field N"}</span>
				<FieldErrors problems={problems} path={p("mappingId")} />
				{verify.length > 0 && <p class="error-text">Outreach's rule on this field refuses {verify.length === 1 ? "a status word" : `${verify.length} status words`} — see above.</p>}
			</td>
			<td class="row-actions">
				<button type="button" class="remove-row" data-remove-row data-js hidden title="Remove this segment" aria-label="Remove this segment">
					×
				</button>
			</td>
		</tr>
	);
}

function AttributeRowView({ i, row, problems }: { i: number | "__i__"; row: AttributeRow; problems: Problem[] }) {
	const p = (f: string) => `attributes.${i}.${f}`;
	const options = row.target && !mappableAttributes.includes(row.target) ? [row.target, ...mappableAttributes] : mappableAttributes;
	return (
		<tr data-testid="attribute-row">
			<td>
				<input type="text" name={p("source")} value={row.source} placeholder="e.g. person.name.firstName" class="mono" aria-label="XDM path" aria-invalid={invalid(problems, p("source"))} />
				<FieldErrors problems={problems} path={p("source")} />
			</td>
			<td class="arrow">→</td>
			<td>
				<select name={p("target")} data-target-select aria-label="Outreach attribute" aria-invalid={invalid(problems, p("target"))}>
					<option value="">Choose an Outreach attribute…</option>
					{options.map((name) => (
						<option value={name} selected={name === row.target} data-array={isArrayAttribute(name) ? "1" : undefined}>
							{isArrayAttribute(name) ? `${name} (list)` : name}
						</option>
					))}
				</select>
				<FieldErrors problems={problems} path={p("target")} />
				<p class="warn-text array-warning" hidden={!isArrayAttribute(row.target)}>
					A list in Outreach: the value replaces the whole list with one element.
				</p>
			</td>
			<td class="row-actions">
				<button type="button" class="remove-row" data-remove-row data-js hidden title="Remove this attribute" aria-label="Remove this attribute">
					×
				</button>
			</td>
		</tr>
	);
}

type MappingPageProps = {
	draft: MappingDraft;
	saved: boolean;
	problems: Problem[];
	message?: string;
	warnings?: Problem[];
	verify?: VerifyAnswer | { error: string };
	notice?: string;
	/** Fields whose source the save just changed: AEP must re-send their profiles. */
	remapped?: string[];
};

/** After a remap: what happens to data already in Outreach, and how to back-fill the new source. */
function RemapNotice({ fields }: { fields: string[] }) {
	return (
		<Callout tone="info" title={`You changed where ${fields.join(", ")} ${fields.length === 1 ? "comes" : "come"} from.`} testid="remap-notice">
			<p>
				Updates made under the old mapping are no longer written (they are counted as superseded). AEP re-sends a profile only when it changes, so
				Outreach gets the new source's values only as its profiles change. To back-fill the new segment now, re-activate it in AEP (or re-run its
				export), and AEP sends every current member again.
			</p>
		</Callout>
	);
}

function mappingPage(c: ConsoleContext, d: Destination, props: MappingPageProps) {
	const { draft, problems } = props;
	const csrf = c.var.csrf;
	const verify = props.verify && "ok" in props.verify ? props.verify : null;
	const verifyFor = (mappingId: string) => (verify?.problems ?? []).filter((p) => String(p.mappingId) === mappingId).map((p) => p.message);
	const placed = (p: Problem) =>
		/^(identityNamespace|statusValues\.(realized|existing|exited)|(segments|attributes)\.\d+(\.(segmentId|name|mappingId|source|target))?)$/.test(p.path);
	const unplaced = problems.filter((p) => !placed(p));
	const segRows = [...draft.segments, ...Array.from({ length: SPARE_ROWS }, () => ({ segmentId: "", name: "", mappingId: "" }))];
	const attrRows = [...draft.attributes, ...Array.from({ length: SPARE_ROWS }, () => ({ source: "", target: "" }))];
	const status = problems.length || props.message ? 400 : 200;
	return c.html(
		<Shell title={`Mapping · ${d.name}`} csrf={csrf} principal={c.var.principal}>
			<DestinationHeader destination={d} tab="mapping" />
			{props.notice && <Callout tone="ok" testid="flash">{props.notice}</Callout>}
			{props.remapped && props.remapped.length > 0 && <RemapNotice fields={props.remapped} />}
			{(problems.length > 0 || props.message) && (
				<Callout tone="bad" title="The mapping was not saved." testid="mapping-errors">
					<p>{problems.length ? `Fix the ${problems.length === 1 ? "problem" : `${problems.length} problems`} marked below, then save again.` : props.message}</p>
					{unplaced.length > 0 && (
						<ul>
							{unplaced.map((p) => (
								<li>
									{p.path && <code>{p.path}</code>} {p.message}
								</li>
							))}
						</ul>
					)}
				</Callout>
			)}
			{props.warnings && props.warnings.length > 0 && (
				<Callout tone="warn" title="Saved, with a warning:">
					<ul>
						{props.warnings.map((w) => (
							<li>{w.message}</li>
						))}
					</ul>
				</Callout>
			)}
			{props.verify && "error" in props.verify && <Callout tone="bad" title="Could not verify against Outreach." testid="verify-result">{props.verify.error}</Callout>}
			{verify && verify.ok && (
				<Callout tone="ok" title="Verified against Outreach ✓" testid="verify-result">
					<p>Every status word fits the rules Outreach has on the mapped custom fields.</p>
				</Callout>
			)}
			{verify && verify.warnings.length > 0 && (
				<Callout tone="warn" title="Another destination, or AEP's own Mapping IDs, write the same fields." testid="verify-warnings">
					<ul>
						{verify.warnings.map((w) => (
							<li>{w.message}</li>
						))}
					</ul>
				</Callout>
			)}
			{verify && !verify.ok && (
				<Callout tone="bad" title="Outreach would refuse some updates." testid="verify-result">
					<ul>
						{verify.problems.map((p) => (
							<li>
								{p.mappingId !== undefined && <strong>Custom field {p.mappingId}: </strong>}
								{p.message}
							</li>
						))}
					</ul>
				</Callout>
			)}
			<div class="grid main-side">
				<form method="post" action={destinationPath(d.id, "/mapping")} id="mapping-form">
					<Csrf token={csrf} />
					<section class="card">
						<h2>Identity</h2>
						<p class="small muted">The AEP identity namespace whose id is the Outreach prospect id — the number in the prospect's URL. Profiles without it are rejected.</p>
						<div class="identity-row">
							<div>
								<label class="label" for="identityNamespace">AEP identity namespace</label>
								<input id="identityNamespace" name="identityNamespace" type="text" value={draft.identityNamespace} placeholder="Oid" class="mono" aria-invalid={invalid(problems, "identityNamespace")} />
								<FieldErrors problems={problems} path="identityNamespace" />
							</div>
							<div class="arrow">
								<span class="label">&nbsp;</span>→
							</div>
							<div>
								<span class="label">Outreach</span>
								<div class="target-fixed">OutreachId</div>
							</div>
						</div>
					</section>

					<section class="card">
						<div class="card-head">
							<div>
								<h2>Segments → custom fields</h2>
								<p class="small muted">
									Each segment's status is written to Outreach's <em>Custom field N</em>, where N is its Mapping ID (1–150). Tip: label the field in Outreach
									with the segment's name.
								</p>
							</div>
						</div>
						<table class="map-table">
							<colgroup>
								<col />
								<col class="w-name" />
								<col class="w-mapping-id" />
								<col class="w-actions" />
							</colgroup>
							<thead>
								<tr>
									<th>AEP segment id</th>
									<th>Name (optional)</th>
									<th>Mapping ID</th>
									<th></th>
								</tr>
							</thead>
							<tbody id="rows-segments" data-next={String(segRows.length)}>
								{segRows.map((row, i) => (
									<SegmentRowView i={i} row={row} problems={problems} verify={verifyFor(row.mappingId)} />
								))}
							</tbody>
						</table>
						<template id="tpl-segments">
							<SegmentRowView i="__i__" row={{ segmentId: "", name: "", mappingId: "" }} problems={[]} verify={[]} />
						</template>
						<button type="button" class="btn small" data-add-row="segments" data-js hidden>
							+ Add segment
						</button>
					</section>

					<section class="card">
						<h2>Status words</h2>
						<p class="small muted">
							What a segment's custom field receives. Leave empty to write AEP's status itself. <code>existing</code> (AEP's older word for "still
							qualifies") takes realized's word unless you give it one. If the field has a picklist in Outreach, use its values.
						</p>
						<div class="status-words">
							{(["realized", "existing", "exited"] as const).map((s) => (
								<div class="field">
									<label for={`sv-${s}`}>
										When <code>{s}</code>
									</label>
									<input
										id={`sv-${s}`}
										type="text"
										name={`statusValues.${s}`}
										value={draft.statusValues[s]}
										placeholder={statusWord({ statusValues: { realized: draft.statusValues.realized || undefined } }, s)}
										aria-invalid={invalid(problems, `statusValues.${s}`)}
									/>
									<FieldErrors problems={problems} path={`statusValues.${s}`} />
								</div>
							))}
						</div>
					</section>

					<section class="card">
						<h2>Attributes</h2>
						<p class="small muted">Profile fields copied to the prospect: a dotted XDM path → an Outreach attribute.</p>
						<table class="map-table">
							<colgroup>
								<col />
								<col class="w-arrow" />
								<col class="w-target" />
								<col class="w-actions" />
							</colgroup>
							<thead>
								<tr>
									<th>XDM path</th>
									<th></th>
									<th>Outreach attribute</th>
									<th></th>
								</tr>
							</thead>
							<tbody id="rows-attributes" data-next={String(attrRows.length)}>
								{attrRows.map((row, i) => (
									<AttributeRowView i={i} row={row} problems={problems} />
								))}
							</tbody>
						</table>
						<template id="tpl-attributes">
							<AttributeRowView i="__i__" row={{ source: "", target: "" }} problems={[]} />
						</template>
						<button type="button" class="btn small" data-add-row="attributes" data-js hidden>
							+ Add attribute
						</button>
					</section>
					<div class="actions">
						<button type="submit" class="btn primary" data-needs="activate" data-testid="save-mapping">
							Save mapping
						</button>
						<span class="small muted">Takes effect everywhere within about a minute.</span>
					</div>
				</form>
				<div>
					<section class="card">
						<h2>Verify against Outreach</h2>
						<p class="small muted">
							Checks the saved mapping against the rules your Outreach administrator set on the mapped custom fields (picklists, formats), before AEP
							sends anything.
						</p>
						<form method="post" data-needs="activate" action={destinationPath(d.id, "/mapping/verify")}>
							<Csrf token={csrf} />
							<button type="submit" class="btn" disabled={!props.saved || d.status !== "connected"} data-testid="verify">
								Verify against Outreach
							</button>
						</form>
						{!props.saved && <p class="small faint">Save a mapping first.</p>}
						{props.saved && d.status !== "connected" && <p class="small faint">Connect to Outreach first.</p>}
					</section>
					<section class="card">
						<h2>How profiles become updates</h2>
						<ul class="small muted">
							<li>AEP sends a profile when a mapped segment's status or a mapped attribute changes.</li>
							<li>The prospect id comes from the identity namespace above (the entry marked primary, else the first).</li>
							<li>Segments that are not mapped here are ignored; a profile with nothing mapped is counted as skipped.</li>
							<li>Changing the mapping does not rewrite what was already sent; replaying a failure uses the current mapping.</li>
						</ul>
					</section>
				</div>
			</div>
		</Shell>,
		status,
	);
}

/** The mapping page: identity, segments (Mapping IDs), status words, attributes, and verification. */
export function registerMapping(app: Hono<ConsoleEnv>): void {
	app.get("/destinations/:id/mapping", async (c) => {
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		const m = await c.var.client.getMapping(r.destination.id);
		if (!m.ok && m.status !== 404) return failurePage(c, m);
		return mappingPage(c, r.destination, {
			draft: m.ok ? draftFrom(m.data) : { ...emptyDraft, identityNamespace: "Oid" },
			saved: m.ok,
			problems: [],
			notice: c.req.query("saved") !== undefined ? "Mapping saved." : undefined,
			remapped: (c.req.query("remapped") ?? "").split(",").filter((f) => /^[A-Za-z0-9]{1,64}$/.test(f)),
		});
	});

	app.post("/destinations/:id/mapping", async (c) => {
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		const draft = mappingDraftFromForm(await c.req.parseBody());
		const res = await c.var.client.putMapping(r.destination.id, mappingBody(draft));
		if (res.ok) {
			const remapped = res.data.remapped;
			if (res.data.warnings.length === 0)
				return c.redirect(destinationPath(r.destination.id, `/mapping?saved=1${remapped.length ? `&remapped=${encodeURIComponent(remapped.join(","))}` : ""}`), 303);
			return mappingPage(c, r.destination, { draft: draftFrom(res.data), saved: true, problems: [], warnings: res.data.warnings, remapped });
		}
		if (res.status !== 400) return failurePage(c, res);
		const saved = await c.var.client.getMapping(r.destination.id);
		return mappingPage(c, r.destination, { draft, saved: saved.ok, problems: res.problems, message: res.problems.length ? undefined : res.message });
	});

	app.post("/destinations/:id/mapping/verify", async (c) => {
		const r = await destinationOr(c);
		if ("response" in r) return r.response;
		const [m, v] = await Promise.all([c.var.client.getMapping(r.destination.id), c.var.client.verifyMapping(r.destination.id)]);
		if (!m.ok && m.status !== 404) return failurePage(c, m);
		return mappingPage(c, r.destination, {
			draft: m.ok ? draftFrom(m.data) : emptyDraft,
			saved: m.ok,
			problems: [],
			verify: v.ok ? v.data : { error: v.message },
		});
	});
}
