import type { OutreachUser } from "./destinations";

/**
 * Token custody inside the gate (stub: the control-plane work implements it). The only code that reads or
 * writes OAuth tokens; grants are kept encrypted in the gate's SQLite storage and mirrored, encrypted, to KV.
 */

/** A grant as Outreach's token endpoint returns it, normalised. */
export type TokenGrant = { accessToken: string; refreshToken: string; expiresAt: number; scope: string };

export type AccessResult =
	| { ok: true; token: string }
	| { ok: false; status: "reconnect_required" | "not_connected"; reason: string };

export class TokenCustody {
	constructor(
		readonly ctx: DurableObjectState,
		readonly env: Env,
	) {}

	/** Stores a new grant for a destination (replacing any earlier one) and marks it connected. */
	async store(destinationId: string, gateName: string, user: OutreachUser, grant: TokenGrant): Promise<void> {
		void destinationId, gateName, user, grant;
		throw new Error("not implemented");
	}

	/** Removes a destination's grant only; other destinations of the same user keep theirs. */
	async remove(destinationId: string): Promise<void> {
		void destinationId;
		throw new Error("not implemented");
	}

	/**
	 * A valid access token for the destination, refreshed ahead of expiry, one refresh at a time however many
	 * callers ask. `rejected`: a token Outreach just answered 401 for — refresh unless it was already replaced.
	 */
	async accessToken(destinationId: string, rejected?: string): Promise<AccessResult> {
		void destinationId, rejected;
		return { ok: false, status: "not_connected", reason: "not implemented" };
	}

	/** Marks the destination's connection lost (e.g. a scope is missing); its updates are then held. */
	async markReconnectRequired(destinationId: string, reason: string): Promise<void> {
		void destinationId, reason;
	}
}
