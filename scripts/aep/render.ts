/**
 * Renders Destination SDK templates on Node the way AEP's Pebble does, with nunjucks (no Pebble port is on the
 * npm registry). Nunjucks differs from Pebble in four places that matter here, each adapted below and each
 * pinned by test/aep/render.node.test.ts ("Pebble constructs on nunjucks"):
 * - autoescaping is on by default → off (the body is JSON, not HTML);
 * - no `raw` filter → one that prints a map or list as JSON, as AEP's `{{ profile | raw }}` does;
 * - no `empty` test, and `null` is false for a missing value → both as Pebble has them (null covers missing);
 * - a one-variable `for` over a map runs zero times → maps are made iterable, yielding `{key, value}` entries
 *   as Pebble's Map.Entry does, while `map.key` and `map[key]` lookups keep working.
 * Our own templates avoid map iteration altogether (they print whole maps with `| raw`), so they do not
 * depend on the last adaptation. A fifth difference is left as it is, because our templates reach AEP as one
 * line: Pebble drops the newline right after a tag, nunjucks keeps it (test/aep/adobe-sample.node.test.ts,
 * which also renders Adobe's documented samples to Adobe's documented results).
 */
import nunjucks from "nunjucks";

function isPlainObject(v: unknown): v is Record<string, unknown> {
	return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isEmpty(v: unknown): boolean {
	if (v === null || v === undefined) return true;
	if (typeof v === "string" || Array.isArray(v)) return v.length === 0;
	if (isPlainObject(v)) return Object.keys(v).length === 0;
	return false;
}

/** A deep copy whose maps iterate as Pebble's do; the iterator is a symbol, so JSON.stringify ignores it. */
function pebbleMaps(v: unknown): unknown {
	if (Array.isArray(v)) return v.map(pebbleMaps);
	if (!isPlainObject(v)) return v;
	const out: Record<string, unknown> = {};
	for (const [k, val] of Object.entries(v)) out[k] = pebbleMaps(val);
	Object.defineProperty(out, Symbol.iterator, {
		enumerable: false,
		value: function* () {
			for (const [key, value] of Object.entries(out)) yield { key, value };
		},
	});
	return out;
}

/** Adobe's template helpers over a segment-membership map: entries whose status is realized/existing, or exited. */
function segmentsWith(map: unknown, statuses: string[]): { key: string; value: unknown }[] {
	if (!isPlainObject(map)) return [];
	const out: { key: string; value: unknown }[] = [];
	for (const [ns, segments] of Object.entries(map)) {
		if (!isPlainObject(segments)) continue;
		// Adobe's helpers take either one namespace's map or the whole segmentMembership.
		if (typeof (segments as { status?: unknown }).status === "string") {
			if (statuses.includes((segments as { status: string }).status)) out.push({ key: ns, value: segments });
			continue;
		}
		for (const [id, m] of Object.entries(segments))
			if (isPlainObject(m) && statuses.includes(String(m.status))) out.push({ key: id, value: m });
	}
	return out;
}

function environment(): nunjucks.Environment {
	const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false });
	env.addFilter("raw", (v: unknown) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v)));
	env.addFilter("added", (m: unknown) => segmentsWith(m, ["realized", "existing"]));
	env.addGlobal("addedSegments", (m: unknown) => segmentsWith(m, ["realized", "existing"]));
	env.addGlobal("removedSegments", (m: unknown) => segmentsWith(m, ["exited"]));
	env.addGlobal("hasSegments", (m: unknown) => segmentsWith(m, ["realized", "existing", "exited"]).length > 0);
	// addTest exists since nunjucks 3.0 but is missing from @types/nunjucks 3.2.
	const tests = env as unknown as { addTest(name: string, test: (v: unknown) => boolean): void };
	tests.addTest("empty", isEmpty);
	tests.addTest("null", (v: unknown) => v === null || v === undefined);
	return env;
}

/** Renders a Pebble template over AEP's template context (`input`, `destination`, …). */
export function renderPebble(template: string, context: Record<string, unknown>): string {
	return environment().renderString(template, pebbleMaps(context) as object);
}

/** A profile in AEP's sample-profile (target schema) format, as `GET /authoring/sample-profiles` returns them. */
export type SampleProfile = {
	segmentMembership?: Record<string, Record<string, { status?: string; lastQualificationTime?: string }>>;
	identityMap?: Record<string, { id: string }[]>;
	attributes?: Record<string, { value?: unknown }>;
};

/**
 * The context AEP builds for one request under configurable aggregation keyed by segment id and status: the
 * key, and profiles carrying only that segment (with that status; their own lastQualificationTime kept).
 */
export function aggregatedContext(profiles: SampleProfile[], key: { segmentId: string; status: string; alias: string; namespace?: string }) {
	const namespace =
		key.namespace ?? profiles.map((p) => Object.keys(p.segmentMembership ?? {}).find((ns) => p.segmentMembership![ns]![key.segmentId])).find(Boolean) ?? "ups";
	const only = profiles.map((p) => {
		const own = p.segmentMembership?.[namespace]?.[key.segmentId];
		const membership = { ...(own?.lastQualificationTime ? { lastQualificationTime: own.lastQualificationTime } : {}), status: key.status };
		return { ...p, segmentMembership: { [namespace]: { [key.segmentId]: membership } } };
	});
	return {
		input: {
			aggregationKey: { segmentId: key.segmentId, segmentNamespace: namespace, segmentAlias: key.alias, segmentStatus: key.status },
			profiles: only,
		},
		destination: { namespaceSegmentAliases: { [namespace]: { [key.segmentId]: key.alias } } },
	};
}
