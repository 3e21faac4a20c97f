import { env } from "cloudflare:test";
import { ledgerStub } from "../../src/ledger/ledger";

/** A destination's ledger, created through its own RPC method with a record of placeholders (no KV, no gate). */
export async function bareLedger(prefix: string) {
	const id = `${prefix}${crypto.randomUUID()}`;
	const ledger = ledgerStub(env, id);
	await ledger.createDestination({
		id,
		name: "Ledger test",
		description: "",
		enabled: true,
		createdAt: new Date().toISOString(),
		ingestTokenHash: "0".repeat(64),
		bulkApi: false,
		gate: null,
		pendingConnection: null,
	});
	return { id, ledger };
}
