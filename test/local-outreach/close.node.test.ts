import { afterEach, describe, expect, it, vi } from "vitest";
import { startLocalOutreach, type LocalOutreach } from "../../local-outreach/server.ts";

// Closing the local Outreach stops its background appliers: a batch or import still applying must not keep a
// timer (or write) after the server is gone. Run in Node, where the server and its timers live.

const JSON_API = "application/vnd.api+json";

async function signIn(base: string, scope: string): Promise<string> {
	const form = new URLSearchParams({
		client_id: "local-client",
		redirect_uri: "http://localhost:8787/oauth/callback",
		response_type: "code",
		scope,
		state: "s",
		email: "rep@example.com",
		password: "outreach",
		decision: "approve",
	});
	const signedIn = await fetch(`${base}/oauth/authorize`, { method: "POST", body: form, redirect: "manual" });
	const code = new URL(signedIn.headers.get("Location")!).searchParams.get("code")!;
	const token = await fetch(`${base}/oauth/token`, {
		method: "POST",
		body: new URLSearchParams({ client_id: "local-client", client_secret: "local-secret", grant_type: "authorization_code", code, redirect_uri: "http://localhost:8787/oauth/callback" }),
	});
	return ((await token.json()) as { access_token: string }).access_token;
}

let outreach: LocalOutreach | undefined;

afterEach(async () => {
	vi.restoreAllMocks();
	await outreach?.close();
	outreach = undefined;
});

describe("local Outreach: close", () => {
	it("stops the timers of a batch and an import still applying", async () => {
		outreach = await startLocalOutreach({ port: 0, bulk: { itemsPerSecond: 1 }, imports: { recordsPerSecond: 1 } });
		const base = outreach.url;
		// Watched from here on, so that only the appliers' timers are seen (not the HTTP server's own).
		const realSetInterval = globalThis.setInterval;
		const started: NodeJS.Timeout[] = [];
		vi.spyOn(globalThis, "setInterval").mockImplementation(((...args: Parameters<typeof setInterval>) => {
			const timer = realSetInterval(...args);
			started.push(timer);
			return timer;
		}) as typeof setInterval);
		const cleared = vi.spyOn(globalThis, "clearInterval");
		const token = await signIn(base, "prospects.write batches.write imports.write");
		const post = (path: string, body: unknown) =>
			fetch(`${base}/api/v2${path}`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": JSON_API }, body: JSON.stringify(body) });
		expect((await post("/batches/actions/prospectsBulkModify", { data: { attributes: { fieldName: "custom4", fieldValue: "A", ids: [1, 2, 3] } } })).status).toBe(200);
		const records = [1, 2, 3].map((id) => ({ type: "prospect", id, attributes: { firstName: "A" } }));
		expect((await post("/imports/actions/bulkUpsert", { data: { attributes: { dupeMethod: "overwriteNoCreate", records } } })).status).toBe(200);
		// One applier for the batches, one for the imports, both running (at one unit a second, far from done).
		expect(started).toHaveLength(2);
		expect(cleared).not.toHaveBeenCalled();

		await outreach.close();
		outreach = undefined;
		for (const timer of started) expect(cleared).toHaveBeenCalledWith(timer);
	});
});
