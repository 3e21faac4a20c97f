import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { admin, connectDestination, getDestination, outreachFaults, outreachStats, resetOutreach } from "../helpers/control";
import { captureLogs, expectInvariants, expectNoTokenLogged, faultDestination, LIMIT, post, range, scenarioLoad, WINDOW_MS } from "../faults/harness";

/**
 * A fault run that walks every path where a token is near a log line — expiring access tokens and their
 * refreshes, 401s, a revoked grant, a reconnect, 503s, a 429 storm — with every console call captured: none
 * of the tokens the local Outreach issued, and none of the Worker's secrets or ingest tokens, appears.
 * (The fault suite checks the tokens after each of its scenarios too.)
 */

let logs: ReturnType<typeof captureLogs>;
beforeEach(async () => {
	// Access tokens that expire every 2 seconds make the gate refresh them throughout the run.
	await resetOutreach({ rateLimit: { limit: LIMIT, windowSeconds: WINDOW_MS / 1000 }, accessTokenTtlSeconds: 2 });
	logs = captureLogs();
});
afterEach(() => logs.restore());

describe("logs during a fault run", () => {
	it("never contain a token or a secret", { timeout: 180_000 }, async () => {
		const d = await faultDestination();
		const rotated = (await (await admin(`/api/destinations/${d.id}/ingest-token`, { method: "POST" })).json()) as { ingestToken: string };
		const token = rotated.ingestToken;
		const dest = { ...d, ingestToken: token };
		const load = scenarioLoad(9, 160, 60, 9001);
		await outreachFaults({ status: 503, probability: 0.2 });
		await post(dest, load, range(0, 80));
		await new Promise((r) => setTimeout(r, 2500));
		await outreachFaults({ spendBudget: { userId: 1, calls: LIMIT } });
		await outreachFaults({ revokeAllTokens: true });
		await post(dest, load, range(80, 160));
		await vi.waitUntil(async () => (await getDestination(d.id)).status === "reconnect_required", { timeout: 60_000, interval: 250 });
		await outreachFaults({});
		// Signing in again calls users/me, which the storm's window would refuse: let that window pass.
		await new Promise((r) => setTimeout(r, WINDOW_MS));
		await connectDestination(d.id);
		await outreachFaults({ status: 503, probability: 0.2 });
		await expectInvariants(dest, load);

		expect((await outreachStats()).tokenGrants.refresh_token, "the run refreshed tokens").toBeGreaterThan(0);
		expect(logs.lines.length).toBeGreaterThan(20);
		await expectNoTokenLogged(logs.lines);
		const secrets = [env.ADMIN_TOKEN, env.TOKEN_ENCRYPTION_KEY, env.OUTREACH_CLIENT_SECRET, d.ingestToken, token];
		const text = logs.lines.join("\n");
		expect(secrets.filter((s) => text.includes(s)).map((s) => `${s.slice(0, 4)}…`)).toEqual([]);
	});
});
