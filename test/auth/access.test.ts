import { env } from "cloudflare:test";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey as JoseKey } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import { roleForEmail } from "../../src/auth/access";

/**
 * Console sign-in through Cloudflare Access (issue 22), against a local JWKS: a key pair made here, its public
 * half served for the team's `/cdn-cgi/access/certs` by intercepting the Worker's fetch. A valid JWT gets its
 * email's role; a wrong `aud`, an expired token and a key the team does not have are refused, and so is an
 * email ACCESS_ROLES does not name.
 */

const TEAM = "https://acme-test.cloudflareaccess.com";
const AUD = "aud-tag-0123456789abcdef";
const accessEnv = {
	...env,
	ACCESS_TEAM_DOMAIN: "acme-test.cloudflareaccess.com",
	ACCESS_AUD: AUD,
	ACCESS_ROLES: JSON.stringify({ "ops@acme.com": "manage", "*@acme.com": "view" }),
} as Env;

let teamKey: JoseKey;
let strangerKey: JoseKey;
let jwksFetches = 0;

beforeAll(async () => {
	const team = await generateKeyPair("RS256");
	const stranger = await generateKeyPair("RS256");
	teamKey = team.privateKey;
	strangerKey = stranger.privateKey;
	const jwk = { ...(await exportJWK(team.publicKey)), kid: "team-key", alg: "RS256", use: "sig" };
	const realFetch = globalThis.fetch;
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
		const url = input instanceof Request ? input.url : String(input);
		if (url === `${TEAM}/cdn-cgi/access/certs`) {
			jwksFetches++;
			return Response.json({ keys: [jwk] });
		}
		return realFetch(input, init);
	});
});

afterAll(() => {
	vi.restoreAllMocks();
});

async function jwt(opts: { email?: string; aud?: string; iss?: string; expiresIn?: string | number; key?: JoseKey; kid?: string } = {}): Promise<string> {
	return new SignJWT({ email: opts.email ?? "ops@acme.com", type: "app" })
		.setProtectedHeader({ alg: "RS256", kid: opts.kid ?? "team-key" })
		.setAudience(opts.aud ?? AUD)
		.setIssuer(opts.iss ?? TEAM)
		.setIssuedAt()
		.setExpirationTime(opts.expiresIn ?? "1h")
		.sign(opts.key ?? teamKey);
}

async function consoleAs(token: string | null, path = "/"): Promise<Response> {
	const headers = new Headers(token ? { "Cf-Access-Jwt-Assertion": token } : {});
	return await app.request(`http://localhost${path}`, { headers, redirect: "manual" }, accessEnv);
}

describe("Cloudflare Access sign-in", () => {
	it("lets in a valid JWT with its email's role: exact address first, then the domain pattern", async () => {
		const ops = await consoleAs(await jwt());
		expect(ops.status).toBe(200);
		expect(await ops.text()).toContain("ops@acme.com · role: manage");
		const analyst = await consoleAs(await jwt({ email: "Ann@Acme.com" }));
		expect(analyst.status).toBe(200);
		const html = await analyst.text();
		expect(html).toContain("Ann@Acme.com · role: view");
		// A view role is not offered the Keys page.
		expect(html).not.toContain('href="/keys"');
	});

	it("caches the team's keys instead of fetching them for every request", async () => {
		const before = jwksFetches;
		for (let i = 0; i < 3; i++) expect((await consoleAs(await jwt())).status).toBe(200);
		expect(jwksFetches - before).toBe(0);
	});

	it.each([
		["a wrong aud", { aud: "another-application" }, /another application or team/],
		["a wrong issuer", { iss: "https://evil.cloudflareaccess.com" }, /another application or team/],
		["an expired token", { expiresIn: Math.floor(Date.now() / 1000) - 60 }, /has expired/],
		["a key the team does not have", { key: undefined as unknown as JoseKey, kid: "stranger-key" }, /not signed by this team/],
		["an email ACCESS_ROLES does not name", { email: "someone@elsewhere.com" }, /has no role in this console/],
	] as const)("refuses %s (403, no entry)", async (_what, opts: Parameters<typeof jwt>[0], reason) => {
		const token = await jwt({ ...opts, ...(opts?.kid === "stranger-key" ? { key: strangerKey } : {}) });
		const res = await consoleAs(token);
		expect(res.status).toBe(403);
		const html = await res.text();
		expect(html).toContain("No entry");
		expect(html).toMatch(reason);
		expect(html).not.toContain(token);
	});

	it("refuses a token signed with the team's key id but another key", async () => {
		const res = await consoleAs(await jwt({ key: strangerKey }));
		expect(res.status).toBe(403);
	});

	it("without the header, falls back to the token sign-in", async () => {
		const res = await consoleAs(null);
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toMatch(/^\/signin/);
	});
});

describe("ACCESS_ROLES", () => {
	it("maps an exact address before its domain's pattern, case-insensitively; no match is no entry", () => {
		const roles = { "ops@acme.com": "manage", "*@acme.com": "view" } as const;
		expect(roleForEmail(roles, "OPS@acme.com")).toBe("manage");
		expect(roleForEmail(roles, "ann@acme.com")).toBe("view");
		expect(roleForEmail(roles, "ann@acme.com.evil.io")).toBeNull();
		expect(roleForEmail(roles, "ann@other.com")).toBeNull();
	});
});
