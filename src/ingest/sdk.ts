import { z } from "zod";
import { AttributeMapping, SegmentMapping, type Mapping, type StoredMapping } from "../destinations/mapping";
import type { AepAudience } from "../ledger/ledger";
import { quote } from "../platform/echo";
import { aepMapping, AEP_IDENTITY_NAMESPACE, mapProfile, type Mapped } from "../updates/update";

/**
 * The body our Destination SDK package's template renders (aep/, README "Connect from AEP"): one audience and
 * one status per request under configurable aggregation, or up to 10 profiles with every mapped audience under
 * best-effort aggregation. It carries its own mapping — the Mapping IDs typed in AEP (`alias`, `aliases`) and
 * attributes already under their Outreach names — so it needs none in our console.
 *
 * ```json
 * {"format":"aep-outreach/1",
 *  "segmentId":"…","segmentNamespace":"ups","alias":"4","status":"realized",   (configurable aggregation only)
 *  "aliases":{"ups":{"<segmentId>":"4"}},
 *  "profiles":[{"identities":{"OutreachId":[{"id":"4211"}]},
 *               "attributes":{"firstName":{"value":"Ana"},"lastName":{}},
 *               "segments":{"ups":{"<segmentId>":{"status":"realized","lastQualificationTime":"…"}}}}]}
 * ```
 */
export const SDK_FORMAT = "aep-outreach/1";

/** The identity namespace the package's configuration declares: AEP's mapping step targets it. */
export const SDK_IDENTITY_NAMESPACE = AEP_IDENTITY_NAMESPACE;

const Alias = z.union([z.string(), z.number()]);
const SdkBody = z.object({
	format: z.literal(SDK_FORMAT),
	segmentId: z.string().optional(),
	segmentNamespace: z.string().optional(),
	alias: Alias.optional(),
	status: z.string().optional(),
	aliases: z.record(z.string(), z.record(z.string(), Alias).catch({})).default({}),
	profiles: z.array(z.unknown(), { error: "profiles must be a list of profiles" }),
});

const Dict = z.record(z.string(), z.unknown());
const SdkProfile = z.object({
	identities: Dict.default({}),
	attributes: Dict.default({}),
	segments: Dict.default({}),
});


export type SdkRequest = {
	audiences: AepAudience[];
	/** The aggregation key's segment and status (configurable aggregation), else absent. */
	key?: { segmentId: string; namespace: string; status: string };
	profiles: unknown[];
};

/** True for a body in the package's format (checked before the body is read as profiles). */
export function isSdkBody(value: unknown): boolean {
	return value !== null && typeof value === "object" && !Array.isArray(value) && (value as { format?: unknown }).format === SDK_FORMAT;
}

function mappingIdOf(alias: unknown, segmentId: string): number | string {
	const text = typeof alias === "number" ? String(alias) : typeof alias === "string" ? alias.trim() : "";
	const parsed = SegmentMapping.safeParse({ segmentId, mappingId: /^\d+$/.test(text) ? Number(text) : NaN });
	if (parsed.success) return parsed.data.mappingId;
	return `the Mapping ID ${JSON.stringify(alias ?? "")?.slice(0, 40)} of audience ${quote(segmentId)} must be a number from 1 to 150 (Outreach's Custom Field N): correct it in AEP's scheduling step`;
}

/** Reads the package's envelope; a string says why the whole body is refused (400). */
export function readSdkBody(value: unknown): SdkRequest | string {
	const parsed = SdkBody.safeParse(value);
	if (!parsed.success)
		return `The body has format ${SDK_FORMAT} but ${parsed.error.issues.map((i) => `${i.path.join(".") || "the body"}: ${i.message}`).join("; ")}`;
	const body = parsed.data;
	const audiences: AepAudience[] = [];
	let key: SdkRequest["key"];
	if (body.segmentId) {
		const namespace = body.segmentNamespace || Object.keys(body.aliases).find((ns) => Object.hasOwn(body.aliases[ns]!, body.segmentId!)) || "ups";
		// The key's alias, else AEP's alias map: either carries the Mapping ID (README: why both).
		const alias = body.alias !== undefined && body.alias !== "" ? body.alias : body.aliases[namespace]?.[body.segmentId];
		const mappingId = mappingIdOf(alias, body.segmentId);
		if (typeof mappingId === "string") return mappingId;
		audiences.push({ segmentId: body.segmentId, namespace, mappingId });
		if (body.status) key = { segmentId: body.segmentId, namespace, status: body.status };
	} else {
		for (const [namespace, segments] of Object.entries(body.aliases))
			for (const [segmentId, alias] of Object.entries(segments)) {
				const mappingId = mappingIdOf(alias, segmentId);
				if (typeof mappingId === "string") return mappingId;
				audiences.push({ segmentId, namespace, mappingId });
			}
	}
	return { audiences, key, profiles: body.profiles };
}

/**
 * Maps one profile of a package body with the mapping it carries: AEP's Mapping IDs (they win over the console's
 * for the same segment), the attributes it names, and the console's status words and field revisions, so the
 * ordering contract applies unchanged. Attribute names follow the same rules as a console mapping.
 */
export function mapSdkProfile(
	request: SdkRequest,
	raw: unknown,
	consoleMapping: StoredMapping | null,
	ids: { id: string; observedAt: number; seq: number },
): Mapped {
	const parsed = SdkProfile.safeParse(raw);
	if (!parsed.success)
		return { kind: "rejected", error: `a profile must be an object with identities, attributes and segments maps (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message})`, segments: [] };
	const { identities, attributes, segments } = parsed.data;
	const attributeMappings: Mapping["attributes"] = [];
	const values: Record<string, unknown> = {};
	for (const [target, wrapper] of Object.entries(attributes)) {
		// AEP sends an unmapped or absent attribute as {}: nothing to write.
		if (wrapper === null || typeof wrapper !== "object" || !Object.hasOwn(wrapper, "value")) continue;
		const rule = AttributeMapping.shape.target.safeParse(target);
		if (!rule.success) return { kind: "rejected", error: `attributes.${quote(target)}: ${rule.error.issues[0]?.message}`, segments: [] };
		values[target] = { value: (wrapper as { value: unknown }).value };
		attributeMappings.push({ source: `attributes.${target}.value`, target });
	}
	const membership: Record<string, unknown> = { ...segments };
	if (request.key) {
		// Under configurable aggregation the key says the status even if a profile's own map lacks the segment.
		const { namespace, segmentId, status } = request.key;
		const ns = membership[namespace];
		const own = ns && typeof ns === "object" ? (ns as Record<string, unknown>)[segmentId] : undefined;
		if (own === undefined) membership[namespace] = { ...(ns && typeof ns === "object" ? ns : {}), [segmentId]: { status } };
	}
	const aep = { segments: request.audiences.map((a) => ({ segmentId: a.segmentId, mappingId: a.mappingId })), attributes: attributeMappings };
	const mapping = aepMapping(aep, consoleMapping);
	const mapped = mapProfile({ identityMap: identities, segmentMembership: membership, attributes: values }, mapping, ids);
	// Kept with the source data, so a replay maps the update as AEP did.
	if (mapped.kind === "accepted") mapped.source.aep = aep;
	return mapped;
}
