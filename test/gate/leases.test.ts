import { createExecutionContext, createMessageBatch, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { auditWrites, rankOfAttribute, type AppliedWrite, type Version } from "../../scripts/bench/audit";
import worker from "../../src/index";
import { createConnectedDestination, outreachFaults, resetOutreach } from "../helpers/control";
import { putMapping } from "../helpers/data";

/**
 * A grant never outlives its lock (design: "A grant never outlives its lock"). vitest.config.ts gives the
 * Worker a 6-second lease and a 3-second request timeout. Here one consumer's granted calls queue behind its
 * six connections while Outreach answers slowly, past their lease; meanwhile a second consumer is granted the
 * same field (its lock expired) and writes a newer value. The first consumer must not send the old PATCH
 * late. The write log (the order values landed) is the judge.
 */

const LEASE_MS = 6_000;

beforeEach(async () => {
	await resetOutreach({ rateLimit: { limit: 100, windowSeconds: 5 } });
});

/** Hands messages to the Worker's queue() handler as one batch, as the queue would (a consumer of its own). */
async function consume(bodies: unknown[], tag: string): Promise<void> {
	const batch = createMessageBatch(
		"prospect-updates",
		bodies.map((body, i) => ({ id: `${tag}-${i}`, timestamp: new Date(), attempts: 1, body })),
	);
	const ctx = createExecutionContext();
	await worker.queue(batch, env, ctx);
	await waitOnExecutionContext(ctx);
}

describe("a granted call whose lease runs out while it waits its turn", () => {
	it("is not sent: a newer value written meanwhile stays, and no write goes back to an older version", { timeout: 60_000 }, async () => {
		const d = await createConnectedDestination();
		await putMapping(d.id, { identityNamespace: "Oid", attributes: [{ source: "person.name.firstName", target: "firstName" }] });
		const t0 = Date.now() - 60_000;
		// 24 prospects, one call each, oldest first: the last one's call waits behind three slow waves of six.
		const old = Array.from({ length: 24 }, (_, i) => ({
			id: `lease-old-${i}`,
			prospectId: 500 + i,
			// The message format of both versions of the product: attempt on the message, a three-part version.
			fields: { firstName: { value: `Old ${500 + i}`, v: [0, t0 + i, 0] } },
		}));
		const target = old[23]!;
		const newer = { id: "lease-new", prospectId: target.prospectId, fields: { firstName: { value: "New", v: [0, t0 + 1_000, 0] } } };
		const versions: Version[] = [
			...old.map((u) => ({ prospectId: u.prospectId, field: "firstName", value: u.fields.firstName.value, rank: rankOfAttribute({ observedAt: u.fields.firstName.v[1]!, position: 0 }), arrivedAt: 0 })),
			{ prospectId: newer.prospectId, field: "firstName", value: "New", rank: rankOfAttribute({ observedAt: t0 + 1_000, position: 0 }), arrivedAt: 0 },
		];

		await outreachFaults({ latencyMs: 2_000 });
		const first = consume([{ destinationId: d.id, attempt: 0, updates: old }], "old");
		// The old calls' lease ends; the second consumer is granted the field and writes at once.
		await new Promise((r) => setTimeout(r, LEASE_MS + 300));
		await outreachFaults({ latencyMs: 0 });
		await consume([{ destinationId: d.id, attempt: 0, updates: [newer] }], "new");
		await first;
		await new Promise((r) => setTimeout(r, 2_500)); // anything sent late would have landed by now

		const { writes } = (await (await fetch(`${env.OUTREACH_API_BASE}/__fake/writes`)).json()) as { writes: AppliedWrite[] };
		const audit = auditWrites(versions, writes);
		expect(audit.stale, "an old PATCH landed after the newer one").toEqual([]);
		const last = writes.filter((w) => w.prospectId === target.prospectId).at(-1);
		expect(last?.value).toBe("New");
		expect(writes.length, "the calls that had lease enough were sent").toBeGreaterThan(0);
	});
});
