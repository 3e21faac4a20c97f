import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
	admin,
	callback,
	createDestination,
	gateAccessToken,
	outreachFaults,
	outreachTokens,
	resetOutreach,
	signIn,
	sleep,
	startConnect, confirmConnection } from "../helpers/control";

/** Everything written to the console while the control plane works (Worker and Durable Objects share this isolate in tests). */
let logged: string[];
beforeEach(async () => {
	await resetOutreach({ accessTokenTtlSeconds: 1 });
	logged = [];
	for (const method of ["log", "info", "warn", "error", "debug"] as const)
		vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
			logged.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
		});
});
afterEach(() => vi.restoreAllMocks());

describe("logs", () => {
	it("name events and ids, never a token, code, state or secret", async () => {
		const secrets: string[] = [env.ADMIN_TOKEN, env.OUTREACH_CLIENT_SECRET, env.TOKEN_ENCRYPTION_KEY];

		const created = await createDestination();
		secrets.push(created.ingestToken);
		const rotated = (await (await admin(`/api/destinations/${created.id}/ingest-token`, { method: "POST" })).json()) as { ingestToken: string };
		secrets.push(rotated.ingestToken);

		const authorizeUrl = await startConnect(created.id);
		const redirect = await signIn(authorizeUrl);
		const params = new URL(redirect).searchParams;
		secrets.push(params.get("code")!, params.get("state")!);
		expect((await callback(redirect, { json: true })).status).toBe(200);
		expect((await callback(redirect, { json: true })).status).toBe(400); // a refused replay logs too
		await confirmConnection(created.id);

		await sleep(1_100);
		expect((await gateAccessToken(created.id)).ok).toBe(true); // a refresh
		await outreachFaults({ revokeAllTokens: true });
		await sleep(1_100);
		expect(await gateAccessToken(created.id)).toMatchObject({ status: "reconnect_required" }); // a lost grant

		secrets.push(...(await outreachTokens()).tokens.map((t) => t.value));
		expect(logged.length).toBeGreaterThan(5);
		expect(logged.some((line) => line.includes("token_refreshed"))).toBe(true);
		const text = logged.join("\n");
		expect(secrets.filter((s) => s && text.includes(s))).toEqual([]);
	});
});
