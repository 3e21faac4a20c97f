import { Hono } from "hono";
import { z } from "zod";
import { config } from "../platform/config";
import { connectionOf } from "../oauth/connection";
import { destinationStore, type DestinationRecord } from "../destinations/records";
import { ApiError } from "../platform/errors";
import { gateStub, type Gate } from "../gate/gate";
import { log } from "../platform/log";
import { ledgerStub } from "../ledger/ledger";
import { aepMappingConflicts, fieldSources, Mapping, mappingWarnings, SegmentStatus, sharedFieldWarnings, statusWord, type StoredMapping } from "../destinations/mapping";
import { customField } from "../outreach/attributes";
import { describeOutreachError, outreachRequest, type OutreachResponse } from "../outreach/api";
import { mappingSummary } from "../audit/summaries";
import { noteAudit } from "./permissions";
import { jsonBody } from "../http/validation";
import { loadDestination } from "./destinations";

// ─── Outreach's field rules (GET /api/v2/types) ─────────────────────────────────────────────────────────

/** A rule an Outreach administrator put on a prospect field; other kinds are ignored (cannot be checked here). */
export const FieldRule = z.discriminatedUnion("type", [
	z.looseObject({ type: z.literal("inclusion"), definition: z.array(z.union([z.string(), z.number()]).transform(String)) }),
	z.looseObject({
		type: z.literal("number"),
		definition: z.looseObject({ min: z.number().optional(), max: z.number().optional(), integer: z.boolean().optional() }).nullish(),
	}),
	z.looseObject({ type: z.literal("date") }),
	z.looseObject({ type: z.literal("url") }),
	z.looseObject({ type: z.literal("format"), definition: z.string() }),
]);
export type FieldRule = z.infer<typeof FieldRule>;

const TypeResource = z.looseObject({
	id: z.union([z.string(), z.number()]).optional(),
	attributes: z.looseObject({ name: z.string().optional(), validation: z.unknown().optional() }),
});
const TypesDocument = z.looseObject({ data: z.array(z.unknown()) });

/** Field name → rule from a `/api/v2/types` document; resources that do not parse are skipped, not fatal. */
export function parseFieldRules(doc: unknown): Map<string, FieldRule> {
	const rules = new Map<string, FieldRule>();
	const parsed = TypesDocument.safeParse(doc);
	if (!parsed.success) return rules;
	for (const item of parsed.data.data) {
		const resource = TypeResource.safeParse(item);
		if (!resource.success) continue;
		const name = resource.data.attributes.name ?? (resource.data.id === undefined ? undefined : String(resource.data.id));
		const rule = FieldRule.safeParse(resource.data.attributes.validation);
		if (name && rule.success) rules.set(name, rule.data);
	}
	return rules;
}

/** Reads the field rules with the destination's access token (through its gate); 409 when not connected. */
async function fieldRules(env: Env, destination: DestinationRecord): Promise<Map<string, FieldRule>> {
	const destinationId = destination.id;
	const connection = await connectionOf(env, destination);
	const reconnect = `Connect it with POST /api/destinations/${destinationId}/connect, then verify again.`;
	if (!connection) throw new ApiError("conflict", `Destination '${destinationId}' is not connected to Outreach. ${reconnect}`);
	const gate = gateStub(env, connection.gate);
	const base = config(env).OUTREACH_API_BASE;
	let rejected: string | undefined;
	// Twice at most: a 401 means the token was revoked or expired early; one refresh, then one retry.
	for (let attempt = 0; attempt < 2; attempt++) {
		const access = await gate.accessToken(destinationId, rejected);
		if (!access.ok) {
			if (access.status === "unavailable")
				throw new ApiError("upstream_error", `Could not get an Outreach access token right now (${access.reason}). Try again in ${Math.ceil(access.retryAfterMs / 1000)} s.`);
			throw new ApiError("conflict", `Destination '${destinationId}' is ${access.status.replace("_", " ")}: ${access.reason}`);
		}
		const res = await budgetedGet(gate, base, access.token, "/types");
		if (res.status >= 200 && res.status < 300) return parseFieldRules(res.data);
		if (res.status !== 401) throw new ApiError("upstream_error", `Could not read Outreach's field rules: ${describeOutreachError(res)}.`);
		rejected = access.token;
	}
	throw new ApiError("upstream_error", "Outreach refused the destination's fresh access token (401). Reconnect the destination.");
}

/** One GET within the Outreach user's rate budget (the gate grants it and learns when it was answered). */
async function budgetedGet(gate: DurableObjectStub<Gate>, base: string, token: string, path: string): Promise<OutreachResponse> {
	const slot = await gate.grantOne();
	if (!slot.ok)
		throw new ApiError(
			"conflict",
			`The Outreach user's rate budget is fully used until ${new Date(slot.retryAt).toISOString()} (updates come first). Verify again after that.`,
			{ retryAt: slot.retryAt },
		);
	const res = await outreachRequest(base, token, "GET", path);
	await gate.settleOne(slot.grantId, Date.now());
	return res;
}

export type VerifyProblem = { mappingId: number; field: string; word: string; message: string };

/** Every mapped custom field whose Outreach rule a status word would break, once per (field, word). */
export function verifyMapping(mapping: Mapping, rules: ReadonlyMap<string, FieldRule>): VerifyProblem[] {
	const problems: VerifyProblem[] = [];
	for (const segment of mapping.segments) {
		const field = customField(segment.mappingId);
		const rule = rules.get(field);
		if (!rule) continue;
		const byWord = new Map<string, SegmentStatus[]>();
		for (const status of SegmentStatus.options) {
			const word = statusWord(mapping, status);
			byWord.set(word, [...(byWord.get(word) ?? []), status]);
		}
		for (const [word, statuses] of byWord) {
			const broken = ruleProblem(rule, word);
			if (!broken) continue;
			const keys = statuses.map((s) => `statusValues.${s}`).join(" / ");
			problems.push({
				mappingId: segment.mappingId,
				field,
				word,
				message: `'${word}' (written for ${statuses.join(", ")}) ${broken}, so Outreach would refuse it (422). Change ${keys} or the rule on ${field} in Outreach.`,
			});
		}
	}
	return problems;
}

/** Why `word` breaks `rule`, phrased to follow the word, or null. */
export function ruleProblem(rule: FieldRule, word: string): string | null {
	switch (rule.type) {
		case "inclusion":
			return rule.definition.includes(word) ? null : `is not in the picklist (${rule.definition.join(", ")})`;
		case "number": {
			const n = word.trim() === "" ? NaN : Number(word);
			const { min, max, integer } = rule.definition ?? {};
			if (!Number.isFinite(n)) return "is not a number";
			if (integer && !Number.isInteger(n)) return "is not a whole number";
			if (min !== undefined && n < min) return `is below the minimum ${min}`;
			if (max !== undefined && n > max) return `is above the maximum ${max}`;
			return null;
		}
		case "date":
			return isCalendarDate(word) ? null : "is not a date (YYYY-MM-DD)";
		case "url":
			return isHttpUrl(word) ? null : "is not an http(s) URL";
		case "format": {
			let pattern: RegExp;
			try {
				pattern = new RegExp(`^(?:${rule.definition})$`);
			} catch {
				return null; // a pattern we cannot read is Outreach's to judge
			}
			return pattern.test(word) ? null : `does not match the format ${rule.definition}`;
		}
	}
}

function isCalendarDate(value: string): boolean {
	const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
	if (!m) return false;
	return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).toISOString().slice(0, 10) === value;
}

function isHttpUrl(value: string): boolean {
	if (!URL.canParse(value)) return false;
	const { protocol } = new URL(value);
	return protocol === "http:" || protocol === "https:";
}

/**
 * Admin routes under /api/destinations: a destination's mapping (`PUT|GET /:id/mapping`) and its check
 * against the field rules an Outreach administrator set (`POST /:id/mapping/verify`).
 */
export const mappingApi = new Hono<{ Bindings: Env }>()
	/**
	 * Saves the mapping through the destination's ledger (its one writer), which moves every field whose source
	 * changed to its next revision: updates made under the old mapping are then superseded, never written.
	 * Answers the mapping, its warnings, and `remapped`: the fields that now come from somewhere new.
	 */
	.put("/:id/mapping", loadDestination, jsonBody(Mapping), async (c) => {
		const mapping = c.req.valid("json");
		const id = c.var.destination.id;
		const before = await ledgerStub(c.env, id).mapping(id);
		const { stored, changed } = await ledgerStub(c.env, id).putMapping(id, mapping);
		noteAudit(c, { summary: mappingSummary(before, mapping) });
		destinationStore(c.env).forget(id);
		const mapped = fieldSources(mapping);
		const remapped = changed.filter((f) => mapped.has(f));
		log("info", "mapping_saved", { destinationId: id, segments: mapping.segments.length, attributes: mapping.attributes.length, remapped: remapped.length });
		const warnings = [...mappingWarnings(mapping), ...sharedFieldWarnings(mapping, await otherMappings(c.env, id))];
		return c.json({ ...withoutRevisions(stored), warnings, remapped });
	})
	.get("/:id/mapping", loadDestination, async (c) => {
		const id = c.var.destination.id;
		const mapping = await ledgerStub(c.env, id).mapping(id);
		if (!mapping) throw new ApiError("not_found", `Destination '${id}' has no mapping yet. Save one with PUT /api/destinations/${id}/mapping.`);
		return c.json(withoutRevisions(mapping));
	})
	.post("/:id/mapping/verify", loadDestination, async (c) => {
		const id = c.var.destination.id;
		const ledger = ledgerStub(c.env, id);
		const [stored, aep] = await Promise.all([ledger.mapping(id), ledger.aepAudiences()]);
		if (!stored && aep.length === 0)
			throw new ApiError("conflict", `Destination '${id}' has no mapping to verify. Save one with PUT /api/destinations/${id}/mapping first, or let AEP send audiences mapped in AEP.`);
		const mapping: StoredMapping = stored ?? { identityNamespace: "OutreachId", attributes: [], segments: [], revisions: {} };
		const rules = await fieldRules(c.env, c.var.destination);
		// Audiences mapped in AEP write their custom fields with the same status words: the same picklists apply.
		const fromAep = aep.filter((a) => !mapping.segments.some((s) => s.mappingId === a.mappingId));
		const problems = verifyMapping({ ...mapping, segments: [...mapping.segments, ...fromAep.map((a) => ({ segmentId: a.segmentId, mappingId: a.mappingId }))] }, rules);
		const warnings = [...sharedFieldWarnings(mapping, await otherMappings(c.env, id)), ...aepMappingConflicts(mapping, aep)];
		return c.json({ ok: problems.length === 0, problems, warnings });
	});

/** The mapping as the API shows it: revisions are the product's own bookkeeping. */
function withoutRevisions({ revisions: _revisions, ...mapping }: StoredMapping): Mapping {
	return mapping;
}

/** Every other destination's name and mapping (KV's copies: a warning may lag a minute behind a change). */
async function otherMappings(env: Env, destinationId: string) {
	const store = destinationStore(env);
	const others = (await store.list()).filter((d) => d.id !== destinationId);
	const mappings = await Promise.all(others.map((d) => store.getMapping(d.id)));
	return others.flatMap((d, i) => (mappings[i] ? [{ id: d.id, name: d.name, mapping: mappings[i]! }] : []));
}
