import { env } from "cloudflare:test";
import { expect } from "vitest";
import { outreachFaults, resetOutreach, type CreatedDestination } from "./control";
import { bulkDestination as bulkDestinationWith } from "./bulk";
import { ingestOk, outreachRequests } from "./data";

/**
 * What the tests of the bulk paths through imports share (test/gate/imports*.test.ts): the seed's mapping,
 * profiles, bursts over the window's PATCH budget, and the local Outreach's imports stats and write log.
 */

export const S1 = "imp-seg-one-4000-8000-000000000001";
export const S2 = "imp-seg-two-4000-8000-000000000002";
export const S3 = "imp-seg-three-400-8000-000000000003";
/** The seed's mapping: three segments, first and last name. */
export const SEED_MAPPING = {
	identityNamespace: "Oid",
	segments: [
		{ segmentId: S1, mappingId: 4 },
		{ segmentId: S2, mappingId: 7 },
		{ segmentId: S3, mappingId: 9 },
	],
	attributes: [
		{ source: "person.name.firstName", target: "firstName" },
		{ source: "person.name.lastName", target: "lastName" },
	],
};

export type Stats = { imports: { requests: number; records: number; created: number; quota429: number }; bulk: { requests: number }; status429: number };
export const stats = async () => (await (await fetch(`${env.OUTREACH_API_BASE}/__fake/stats`)).json()) as Stats;
export type Write = { at: number; prospectId: number; field: string; value: unknown; via: string };
export const writes = async () => ((await (await fetch(`${env.OUTREACH_API_BASE}/__fake/writes`)).json()) as { writes: Write[] }).writes;

export const LIMIT = 100;
export const prospects = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: from + i }));


/** Each test from a reset local Outreach; each ends with no prospect created and no 429 of the hourly limit. */
export async function resetForImports(): Promise<void> {
	await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: 5 } });
}

export async function expectNothingCreated(): Promise<void> {
	const s = await stats();
	expect(s.imports.created, "prospects created by an import").toBe(0);
	expect(s.status429 - s.imports.quota429, "429s for the hourly limit").toBe(0);
	await outreachFaults({});
}

/** A destination with the bulk paths on, connected with their scopes, mapping the seed's fields. */
export function bulkDestination(name: string): Promise<CreatedDestination> {
	return bulkDestinationWith(name, SEED_MAPPING);
}

export const profile = (id: number, status: string, first: string, t = "2026-11-20T10:00:00Z") => ({
	person: { name: { firstName: first, lastName: `Last-${id}` } },
	segmentMembership: { ups: { [S1]: { status, lastQualificationTime: t }, [S2]: { status: "realized", lastQualificationTime: t }, [S3]: { status: "exited", lastQualificationTime: t } } },
	identityMap: { Oid: [{ id: String(id) }] },
});

/** A burst of `n` prospects from `from`, in requests of 200: more than the window's PATCH budget drains. */
export async function burst(d: CreatedDestination, from: number, n: number, first = (id: number) => `First-${id}`): Promise<void> {
	const all = Array.from({ length: n }, (_, i) => profile(from + i, "realized", first(from + i)));
	for (let i = 0; i < all.length; i += 200) await ingestOk(d.id, d.ingestToken, all.slice(i, i + 200));
}

export const requestsTo = async (re: RegExp) => (await outreachRequests()).filter((r) => re.test(r.path));
export const patches = async () => (await outreachRequests()).filter((r) => r.method === "PATCH").length;

