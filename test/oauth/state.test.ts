import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { gateStub } from "../../src/gate/gate";
import { callback, createDestination, getDestination, outreachStats, repGate, resetOutreach, signIn, startConnect, confirmConnection } from "../helpers/control";

/**
 * What test/oauth/callback-refusals.test.ts leaves out: a state is spent by *any* answer carrying it — a
 * failed code exchange or a decline — so whoever saw it cannot replay it with a good code later; and a forged
 * state spends nothing of the real one.
 */

beforeEach(async () => {
	await resetOutreach();
});

async function reason(res: Response): Promise<string> {
	expect(res.status).toBe(400);
	return ((await res.json()) as { error: { details: { reason: string } } }).error.details.reason;
}

async function expectNotConnected(destinationId: string) {
	expect((await getDestination(destinationId)).status).toBe("not_connected");
	expect(await gateStub(env, repGate()).connection(destinationId)).toBeNull();
	expect(await env.CONFIG.get(`connection:${destinationId}`)).toBeNull();
}

describe("the OAuth state, single use whatever happened", () => {
	it("is spent by a failed code exchange: replaying it with a good code is refused", async () => {
		const { id } = await createDestination();
		const authorizeUrl = await startConnect(id);
		const bad = new URL(await signIn(authorizeUrl));
		bad.searchParams.set("code", "a-code-outreach-never-issued");
		expect(await reason(await callback(bad.href, { json: true }))).toBe("exchange_failed");
		// Same state, a real code from a second sign-in.
		const replay = await signIn(authorizeUrl);
		expect(["state_unknown", "state_reused"]).toContain(await reason(await callback(replay, { json: true })));
		expect((await outreachStats()).tokenGrants.authorization_code).toBe(0);
		await expectNotConnected(id);
	});

	it("is spent by a declined sign-in: approving later with the same state is refused", async () => {
		const { id } = await createDestination();
		const authorizeUrl = await startConnect(id);
		expect(await reason(await callback(await signIn(authorizeUrl, { decision: "decline" }), { json: true }))).toBe("access_denied");
		const approved = await signIn(authorizeUrl);
		expect(["state_unknown", "state_reused"]).toContain(await reason(await callback(approved, { json: true })));
		expect((await outreachStats()).tokenGrants.authorization_code).toBe(0);
		await expectNotConnected(id);
	});

	it("is not spent by a forged one: the real answer still connects afterwards", async () => {
		const { id } = await createDestination();
		const redirect = await signIn(await startConnect(id));
		const forged = new URL(redirect);
		forged.searchParams.set("state", `${forged.searchParams.get("state")}x`);
		expect(await reason(await callback(forged.href, { json: true }))).toBe("state_unknown");
		const res = await callback(redirect, { json: true });
		expect(res.status).toBe(200);
		expect((await getDestination(id)).status).toBe("confirmation_required");
		expect((await confirmConnection(id)).status).toBe("connected");
	});

	it("binds the grant to the destination that asked for it, whichever destination's page the answer lands on", async () => {
		const a = await createDestination({ name: "A" });
		const b = await createDestination({ name: "B" });
		const redirect = new URL(await signIn(await startConnect(a.id)));
		// There is no destination parameter to tamper with; an added one is ignored.
		redirect.searchParams.set("destinationId", b.id);
		expect((await callback(redirect.href, { json: true })).status).toBe(200);
		expect((await getDestination(a.id)).status).toBe("confirmation_required");
		expect((await confirmConnection(a.id)).status).toBe("connected");
		await expectNotConnected(b.id);
	});
});
