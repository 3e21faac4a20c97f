/**
 * Before → after summaries for the audit log, built only from settings (names, ids, field names, flags) —
 * never from a token or a profile value. Example: "mapping: segment abc Mapping ID 4 → 7".
 */

type MappingLike = {
	identityNamespace?: string;
	attributes: { source: string; target: string }[];
	segments: { segmentId: string; mappingId: number }[];
	statusValues?: { realized?: string; exited?: string } | undefined;
};

export function mappingSummary(before: MappingLike | null, after: MappingLike): string {
	if (!before) return `mapping: created with ${after.segments.length} segment(s) and ${after.attributes.length} attribute(s)`;
	const parts: string[] = [];
	const seg = (m: MappingLike) => new Map(m.segments.map((s) => [s.segmentId, s.mappingId]));
	const [b, a] = [seg(before), seg(after)];
	for (const [id, mappingId] of a) {
		const was = b.get(id);
		if (was === undefined) parts.push(`segment ${id} added (Mapping ID ${mappingId})`);
		else if (was !== mappingId) parts.push(`segment ${id} Mapping ID ${was} → ${mappingId}`);
	}
	for (const [id, mappingId] of b) if (!a.has(id)) parts.push(`segment ${id} removed (was Mapping ID ${mappingId})`);
	const attr = (m: MappingLike) => new Map(m.attributes.map((x) => [x.target, x.source]));
	const [ba, aa] = [attr(before), attr(after)];
	for (const [target, source] of aa) {
		const was = ba.get(target);
		if (was === undefined) parts.push(`${target} ← ${source} added`);
		else if (was !== source) parts.push(`${target} source ${was} → ${source}`);
	}
	for (const [target, source] of ba) if (!aa.has(target)) parts.push(`${target} ← ${source} removed`);
	if (before.identityNamespace !== after.identityNamespace) parts.push(`identity namespace ${before.identityNamespace} → ${after.identityNamespace}`);
	const sv = (m: MappingLike) => `${m.statusValues?.realized ?? "default"}/${m.statusValues?.exited ?? "default"}`;
	if (sv(before) !== sv(after)) parts.push(`status words ${sv(before)} → ${sv(after)}`);
	return `mapping: ${parts.length ? parts.join("; ") : "saved unchanged"}`;
}

/** "name 'EU' → 'Europe'; enabled true → false", for the changed settings only (their values are settings, not profiles). */
export function changesSummary(what: string, before: Record<string, unknown>, changes: Record<string, unknown>): string {
	const show = (v: unknown) => (typeof v === "string" ? `'${v.length > 80 ? `${v.slice(0, 79)}…` : v}'` : String(v));
	const parts = Object.entries(changes)
		.filter(([k, v]) => before[k] !== v)
		.map(([k, v]) => `${k} ${show(before[k])} → ${show(v)}`);
	return `${what}: ${parts.length ? parts.join("; ") : "no change"}`;
}
