import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createConnectedDestination, gateAccessToken, outreachStats, outreachTokens, resetOutreach, sleep } from "../../helpers/control";
import { watchTokenRequests } from "../../helpers/token-requests";

/** Access tokens that live 1 s, so expiry happens within a test. */
const TTL_S = 1;

let watch: ReturnType<typeof watchTokenRequests>;
beforeEach(async () => {
	await resetOutreach({ accessTokenTtlSeconds: TTL_S });
	watch = watchTokenRequests();
});
afterEach(() => watch.restore());

async function token(id: string, rejected?: string): Promise<string> {
	const r = await gateAccessToken(id, { rejected });
	if (!r.ok) throw new Error(`no token: ${r.status} ${r.reason}`);
	return r.token;
}

describe("the gate's access tokens", () => {
	it("hands out the stored token while it is fresh, without asking Outreach", async () => {
		const { id } = await createConnectedDestination();
		const first = await token(id);
		expect(await token(id)).toBe(first);
		expect(watch.refreshes()).toHaveLength(0);
	});

	it("25 concurrent requests for an expiring token cause exactly one refresh, and all get the new token", async () => {
		const { id } = await createConnectedDestination();
		const old = await token(id);
		await sleep(TTL_S * 1000 + 100);

		const results = await Promise.all(Array.from({ length: 25 }, () => gateAccessToken(id)));
		expect((await outreachStats()).tokenGrants.refresh_token).toBe(1);
		expect(watch.refreshes()).toHaveLength(1);
		const tokens = new Set(results.map((r) => (r.ok ? r.token : `failed: ${r.status}`)));
		expect(tokens.size).toBe(1);
		const [fresh] = [...tokens];
		expect(fresh).not.toBe(old);
		const live = (await outreachTokens()).tokens.find((t) => t.value === fresh);
		expect(live).toMatchObject({ type: "access", state: "active" });
	});

	it("25 concurrent callers reporting the same rejected token cause one refresh, even when it fails", async () => {
		const { id } = await createConnectedDestination();
		await resetOutreach({ accessTokenTtlSeconds: 3600 }); // Outreach forgets every token: ours are now refused
		const stale = await token(id);
		const results = await Promise.all(Array.from({ length: 25 }, () => gateAccessToken(id, { rejected: stale })));
		// The refresh token was forgotten too, so the one refresh fails — once, for everybody.
		expect(watch.refreshes()).toHaveLength(1);
		expect(new Set(results.map((r) => r.ok || r.status))).toEqual(new Set(["reconnect_required"]));
	});

	it("a rejected token is replaced even when it has not expired, and only once", async () => {
		await resetOutreach({ accessTokenTtlSeconds: 3600 });
		const { id } = await createConnectedDestination();
		const rejected = await token(id);
		const fresh = await token(id, rejected);
		expect(fresh).not.toBe(rejected);
		// A late caller reporting the same rejected token gets the new one without another refresh.
		expect(await token(id, rejected)).toBe(fresh);
		expect(watch.refreshes()).toHaveLength(1);
	});

	it("never sends a used refresh token again, across many refreshes", async () => {
		const { id } = await createConnectedDestination();
		for (let round = 0; round < 4; round++) {
			await sleep(TTL_S * 1000 + 100);
			await Promise.all(Array.from({ length: 5 }, () => token(id)));
		}
		const sent = watch.refreshes().map((r) => r.refreshToken);
		expect(sent).toHaveLength(4);
		expect(new Set(sent).size).toBe(4);
		expect(watch.refreshes().every((r) => r.status === 200)).toBe(true);
		// Every refresh token we sent is now "used" at Outreach; exactly one refresh token is still active.
		const refreshTokens = (await outreachTokens()).tokens.filter((t) => t.type === "refresh");
		for (const value of sent) expect(refreshTokens.find((t) => t.value === value)?.state).toBe("used");
		expect(refreshTokens.filter((t) => t.state === "active")).toHaveLength(1);
	});
});
