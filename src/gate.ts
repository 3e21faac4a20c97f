import { DurableObject } from "cloudflare:workers";

/**
 * The gate: one Durable Object per Outreach user (named `<userId>:<email>`), the single writer of that
 * user's rate budget, of its destinations' OAuth grants, and of each prospect field's applied version.
 * Token custody lives in ./tokens, the budget in ./budget; this class only wires them to storage.
 */
export class Gate extends DurableObject<Env> {}
