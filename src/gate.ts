import { DurableObject } from "cloudflare:workers";
import type { OutreachUser } from "./destinations";
import { TokenCustody, type AccessResult, type TokenGrant } from "./tokens";

/**
 * The gate: one Durable Object per Outreach user (named by `gateName`), the single writer of that user's
 * rate budget, of its destinations' OAuth grants, and of each prospect field's applied version.
 * Token custody lives in ./tokens, the budget in ./budget; this class wires them to its storage.
 */
export class Gate extends DurableObject<Env> {
	private readonly tokens: TokenCustody;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.tokens = new TokenCustody(ctx, env);
	}

	storeGrant(destinationId: string, user: OutreachUser, grant: TokenGrant): Promise<void> {
		return this.tokens.store(destinationId, gateName(user), user, grant);
	}

	removeGrant(destinationId: string): Promise<void> {
		return this.tokens.remove(destinationId);
	}

	accessToken(destinationId: string, rejected?: string): Promise<AccessResult> {
		return this.tokens.accessToken(destinationId, rejected);
	}

	markReconnectRequired(destinationId: string, reason: string): Promise<void> {
		return this.tokens.markReconnectRequired(destinationId, reason);
	}
}

/** The gate of an Outreach user: one per user, shared by all the destinations that user connected. */
export function gateName(user: OutreachUser): string {
	return `${user.id}:${user.email.toLowerCase()}`;
}

export function gateStub(env: Env, name: string): DurableObjectStub<Gate> {
	return env.GATE.getByName(name) as DurableObjectStub<Gate>;
}
