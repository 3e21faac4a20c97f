/**
 * Whether this Worker runs for local development. Decided from configuration, not from the request: it is
 * local development when OUTREACH_API_BASE points at an Outreach on this machine (127.0.0.1, localhost or
 * [::1]) — the local Outreach that `npm start` and the tests wire in. A deployment talks to
 * https://api.outreach.io, so allowances meant for a laptop (http webhooks to 127.0.0.1, links that follow
 * the Host header without a warning) never apply there.
 */

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

export function isLocalDevelopment(env: Pick<Env, "OUTREACH_API_BASE">): boolean {
	const base = env.OUTREACH_API_BASE;
	if (typeof base !== "string" || !URL.canParse(base)) return false;
	return LOCAL_HOSTS.has(new URL(base).hostname);
}
