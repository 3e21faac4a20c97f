import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { gateStub } from "../../src/gate/gate";
import {
	admin,
	adminJson,
	callback,
	confirmConnection,
	connectDestination,
	createDestination,
	gateAccessToken,
	getDestination,
	REP,
	repGate,
	resetOutreach,
	signIn,
	startConnect,
} from "../helpers/control";

beforeEach(async () => {
	await resetOutreach();
});

describe("connecting a destination to Outreach", () => {
	it("returns an authorize URL with client_id, redirect_uri, response_type=code, the scopes and a state", async () => {
		const { id } = await createDestination();
		const url = new URL(await startConnect(id));
		expect(`${url.origin}${url.pathname}`).toBe(`${env.OUTREACH_API_BASE}/oauth/authorize`);
		expect(url.searchParams.get("client_id")).toBe("local-client");
		expect(url.searchParams.get("redirect_uri")).toBe("http://localhost:8787/oauth/callback");
		expect(url.searchParams.get("response_type")).toBe("code");
		expect(url.searchParams.get("scope")).toBe("prospects.read prospects.write users.read");
		expect(url.search).toContain("scope=prospects.read%20prospects.write%20users.read");
		expect(url.searchParams.get("state")).toMatch(/^[A-Za-z0-9_-]{43}$/);
	});

	it("gives a new state on every connect", async () => {
		const { id } = await createDestination();
		const a = new URL(await startConnect(id)).searchParams.get("state");
		const b = new URL(await startConnect(id)).searchParams.get("state");
		expect(a).not.toBe(b);
	});

	it("create → connect → sign in at Outreach's form → callback → confirm → connected as rep@example.com", async () => {
		const { id } = await createDestination({ name: "EU prospects" });
		expect((await getDestination(id)).status).toBe("not_connected");

		const redirect = await signIn(await startConnect(id));
		const res = await callback(redirect);
		expect(res.status).toBe(302);
		expect(res.headers.get("Location")).toBe(`/destinations/${id}?confirm=1`);
		expect(await getDestination(id)).toMatchObject({ status: "confirmation_required", pendingOutreachUser: { id: REP.id, email: REP.email } });

		await confirmConnection(id);
		const destination = await getDestination(id);
		expect(destination).toMatchObject({ id, name: "EU prospects", status: "connected", outreachUser: { id: REP.id, email: REP.email } });
		const token = await gateAccessToken(id);
		expect(token.ok).toBe(true);
	});

	it("answers JSON with the connected destination when asked", async () => {
		const { id } = await createDestination();
		const destination = await connectDestination(id);
		expect(destination).toMatchObject({ id, status: "connected", outreachUser: { id: 1, email: "rep@example.com" } });
	});

	it("shares one gate between two destinations of the same user; disconnecting one leaves the other working", async () => {
		const a = await createDestination({ name: "A" });
		const b = await createDestination({ name: "B" });
		await connectDestination(a.id);
		await connectDestination(b.id);

		const gate = gateStub(env, repGate());
		expect((await gate.connection(a.id))?.gate).toBe(repGate());
		expect((await gate.connection(b.id))?.gate).toBe(repGate());

		const res = await admin(`/api/destinations/${a.id}/connection`, { method: "DELETE" });
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ id: a.id, status: "not_connected", outreachUser: null });

		expect((await getDestination(a.id)).status).toBe("not_connected");
		expect(await gateAccessToken(a.id)).toMatchObject({ ok: false, status: "not_connected" });
		expect((await getDestination(b.id)).status).toBe("connected");
		const access = await gateAccessToken(b.id);
		if (!access.ok) throw new Error(`b lost its token: ${access.reason}`);
		// The remaining token still works at Outreach.
		const me = await fetch(`${env.OUTREACH_API_BASE}/api/v2/users/me`, { headers: { Authorization: `Bearer ${access.token}` } });
		expect(me.status).toBe(200);
	});

	it("reconnecting replaces the grant and the destination stays connected", async () => {
		const { id } = await createDestination();
		await connectDestination(id);
		const first = await gateAccessToken(id);
		await connectDestination(id);
		const second = await gateAccessToken(id);
		expect(first.ok && second.ok && first.token !== second.token).toBe(true);
		expect((await getDestination(id)).status).toBe("connected");
	});

	it("refuses to connect an unknown destination", async () => {
		const res = await admin("/api/destinations/nope/connect", { method: "POST" });
		expect(res.status).toBe(404);
		expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
	});

	it("shows the grant's user in the destination list", async () => {
		const { id } = await createDestination();
		await connectDestination(id);
		const { destinations } = await adminJson<{ destinations: { id: string; status: string }[] }>("/api/destinations");
		expect(destinations.find((d) => d.id === id)?.status).toBe("connected");
	});
});
