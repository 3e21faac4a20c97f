import { env } from "cloudflare:test";
import { expect } from "vitest";
import { adminJson, connectDestination, createDestination, outreachFaults, resetOutreach, type CreatedDestination } from "./control";
import { ingestOk, outreachRequests, putMapping } from "./data";

/** What the tests of segment statuses through the bulk API share (test/gate/bulk*.test.ts). */

export const S1 = "bulk-seg-one-4000-8000-000000000001";
export const S2 = "bulk-seg-two-4000-8000-000000000002";
export const SEGMENTS = { identityNamespace: "Oid", segments: [{ segmentId: S1, mappingId: 4 }, { segmentId: S2, mappingId: 5 }] };

export type BulkStats = { bulk: { requests: number; items: number; unfilteredRequests: number; quota429: number }; status429: number };
export const bulkStats = async () => (await (await fetch(`${env.OUTREACH_API_BASE}/__fake/stats`)).json()) as BulkStats;

/** Each test from a reset local Outreach (100 calls per 5 s); each ends with no bulk request sent without ids. */
export async function resetForBulk(): Promise<void> {
	await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
}

export async function expectNoUnfilteredBulk(): Promise<void> {
	expect((await bulkStats()).bulk.unfilteredRequests, "bulk requests sent without ids").toBe(0);
	await outreachFaults({});
}

/** A destination with the bulk API on, connected with the batches scopes, mapping two segments. */
export async function bulkDestination(name = "Bulk", mapping: Record<string, unknown> = SEGMENTS): Promise<CreatedDestination> {
	const created = await createDestination({ name });
	await adminJson(`/api/destinations/${created.id}`, { method: "PATCH", json: { bulkApi: true } });
	await connectDestination(created.id);
	await putMapping(created.id, mapping);
	return { ...created, bulkApi: true };
}

export const member = (id: number, s1: string, s2?: string, t = "2026-11-20T10:00:00Z") => ({
	segmentMembership: { ups: { [S1]: { status: s1, lastQualificationTime: t }, ...(s2 ? { [S2]: { status: s2, lastQualificationTime: t } } : {}) } },
	identityMap: { Oid: [{ id: String(id) }] },
});

/**
 * Posts profiles in requests of up to 200: a burst over what the window's PATCH budget (100 calls) drains, so
 * the gate's backlog rule sends it in bulk from the first request on.
 */
export async function post(d: CreatedDestination, profiles: unknown[]): Promise<void> {
	for (let i = 0; i < profiles.length; i += 200) await ingestOk(d.id, d.ingestToken, profiles.slice(i, i + 200));
}

/** Prospects that exist at the local Outreach besides a test's own: fill a burst up to the bulk threshold. */
export const filler = (from: number, n: number) => Array.from({ length: n }, (_, i) => member(from + i, "realized"));

export const patches = async () => (await outreachRequests()).filter((r) => r.method === "PATCH").length;

