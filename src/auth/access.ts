import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import { config } from "../platform/config";
import { sha256Hex } from "../platform/crypto";
import { log } from "../platform/log";
import { ROLES, type Principal, type Role } from "./principal";

/**
 * Console sign-in through Cloudflare Access, when ACCESS_TEAM_DOMAIN and ACCESS_AUD are set. Access signs in
 * the person at the edge and sends its JWT with every request in `Cf-Access-Jwt-Assertion`; it is verified here
 * with `jose` against the team's JWKS (`https://<team>/cdn-cgi/access/certs`; jose caches the keys and fetches
 * again only for an unknown key id, at most every 30 s): signature, `aud` (the application's AUD tag), `iss`
 * (the team domain) and expiry. The email maps to a role by ACCESS_ROLES; no match means no entry.
 */

export const ACCESS_HEADER = "Cf-Access-Jwt-Assertion";

const RolesMap = z.record(z.string().trim().toLowerCase().min(3), z.enum(ROLES, { error: `must be one of ${ROLES.join(", ")}` }));

export type AccessConfig = { issuer: string; aud: string; roles: Record<string, Role> };

/** The Access configuration, null when Access is off; throws a message naming what to fix when half set. */
export function accessConfig(env: Env): AccessConfig | null {
	const c = config(env);
	if (!c.ACCESS_TEAM_DOMAIN && !c.ACCESS_AUD) return null;
	if (!c.ACCESS_TEAM_DOMAIN || !c.ACCESS_AUD)
		throw new AccessConfigError("Set both ACCESS_TEAM_DOMAIN (e.g. acme.cloudflareaccess.com) and ACCESS_AUD (the Access application's AUD tag), or neither.");
	let parsed: unknown;
	try {
		parsed = JSON.parse(c.ACCESS_ROLES || "{}");
	} catch {
		throw new AccessConfigError('ACCESS_ROLES is not JSON. Use e.g. {"ops@acme.com":"manage","*@acme.com":"view"}.');
	}
	const roles = RolesMap.safeParse(parsed);
	if (!roles.success)
		throw new AccessConfigError(`ACCESS_ROLES is invalid: ${roles.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}.`);
	const host = c.ACCESS_TEAM_DOMAIN.replace(/^https?:\/\//, "").replace(/\/+$/, "");
	return { issuer: `https://${host}`, aud: c.ACCESS_AUD, roles: roles.data };
}

export class AccessConfigError extends Error {}

/** The role of `email`: its exact entry first, else its domain's `*@domain` entry; null = no entry. */
export function roleForEmail(roles: Record<string, Role>, email: string): Role | null {
	const e = email.trim().toLowerCase();
	const domain = e.slice(e.lastIndexOf("@") + 1);
	return roles[e] ?? (domain ? roles[`*@${domain}`] : undefined) ?? null;
}

/** One key set per team, kept for the isolate's life: jose caches its keys and refetches only for a new key id. */
const keySets = new Map<string, JWTVerifyGetKey>();
function keySet(issuer: string): JWTVerifyGetKey {
	let set = keySets.get(issuer);
	if (!set) keySets.set(issuer, (set = createRemoteJWKSet(new URL(`${issuer}/cdn-cgi/access/certs`))));
	return set;
}

export type AccessResult =
	| { ok: true; principal: Extract<Principal, { kind: "access" }>; sessionId: string; expiresAt: number }
	| { ok: false; reason: string };

/** Verifies an Access JWT and maps its email to a role. The reason of a refusal is for the person, never the token. */
export async function verifyAccess(env: Env, jwt: string): Promise<AccessResult> {
	const conf = accessConfig(env);
	if (!conf) return { ok: false, reason: "Cloudflare Access is not configured for this console." };
	let payload;
	try {
		({ payload } = await jwtVerify(jwt, keySet(conf.issuer), { audience: conf.aud, issuer: conf.issuer, algorithms: ["RS256"] }));
	} catch (err) {
		return { ok: false, reason: refusal(err) };
	}
	const email = typeof payload.email === "string" ? payload.email : null;
	if (!email) return { ok: false, reason: "Your Cloudflare Access sign-in carries no email (a service token?). Sign in as a person." };
	const role = roleForEmail(conf.roles, email);
	if (!role) return { ok: false, reason: `${email} has no role in this console. Ask its owner to add you to ACCESS_ROLES.` };
	// The session's id comes from the token itself: the same Access sign-in keeps the same CSRF token.
	const sessionId = `access-${(await sha256Hex(jwt)).slice(0, 40)}`;
	return { ok: true, principal: { kind: "access", email, role }, sessionId, expiresAt: (payload.exp ?? 0) * 1000 };
}

function refusal(err: unknown): string {
	const code = (err as { code?: string } | null)?.code;
	if (code === "ERR_JWKS_NO_MATCHING_KEY" || code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED")
		return "Your Cloudflare Access sign-in is not signed by this team's keys. Reload the page to sign in again.";
	if (err instanceof errors.JWTExpired) return "Your Cloudflare Access sign-in has expired. Reload the page to sign in again.";
	if (err instanceof errors.JWTClaimValidationFailed)
		return `Your Cloudflare Access sign-in is for another application or team (${err.claim} does not match). Open this console through its own Access application.`;
	log("warn", "access_jwt_refused", { code: code ?? "unknown" });
	return "Your Cloudflare Access sign-in could not be verified. Reload the page; if it persists, check ACCESS_TEAM_DOMAIN and ACCESS_AUD.";
}
