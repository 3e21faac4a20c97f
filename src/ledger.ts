import { DurableObject } from "cloudflare:workers";

/**
 * The ledger: one Durable Object per destination (named by its id): per-update states, counters per
 * segment and hour, failures with their source data, alert state.
 */
export class Ledger extends DurableObject<Env> {}
