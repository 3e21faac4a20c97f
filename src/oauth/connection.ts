import { destinationStore, destinationView, type ConnectionRecord, type DestinationRecord, type DestinationView, type OutreachUser } from "../destinations/records";
import { gateName, gateStub } from "../gate/gate";
import { ledgerStub } from "../ledger/ledger";
import { log } from "../platform/log";
import type { TokenGrant } from "../outreach/oauth";

/**
 * A destination's connection to Outreach, as the control plane changes it: connecting (or reconnecting,
 * possibly as another Outreach user, whose gate then takes the destination's versions over), holding a grant
 * from an API-started sign-in for an admin's confirmation, confirming it, and disconnecting. The gate holds
 * the grant (the authority for tokens and status); the destination's ledger records which gate that is.
 */

/** How long a grant from an API-started sign-in waits for confirmation. */
export const PENDING_TTL_MS = 10 * 60_000;

/** The gate holding the destination's grant now: the authority's record first, KV's connection record else. */
async function currentGate(env: Env, record: DestinationRecord): Promise<string | null> {
	if (record.gate) return record.gate;
	return (await destinationStore(env).getConnection(record.id))?.gate ?? null;
}

/** Makes `gate` the destination's gate after it stored a grant: the former gate lets go, the ledger records it. */
async function switchTo(env: Env, record: DestinationRecord, gate: string, former: string | null, connection: ConnectionRecord): Promise<DestinationRecord> {
	if (former && former !== gate) await gateStub(env, former).removeGrant(record.id, gate);
	const next = (await ledgerStub(env, record.id).setConnection(record.id, { gate, generation: connection.generation ?? 0 })) ?? record;
	const store = destinationStore(env);
	store.noteConnection(record.id, connection);
	store.noteDestination(next);
	log("info", "oauth_connected", { destinationId: record.id, userId: connection.user.id, movedFrom: former && former !== gate ? former : undefined });
	return next;
}

/** Connects the destination with a grant its owner completed in the console. */
export async function connect(env: Env, record: DestinationRecord, user: OutreachUser, grant: TokenGrant, callAt: number): Promise<{ record: DestinationRecord; connection: ConnectionRecord }> {
	const gate = gateName(user);
	const former = await currentGate(env, record);
	const stub = gateStub(env, gate);
	// users/me counted against this user's Outreach limit: the gate's budget must know it was spent.
	await stub.recordCall(callAt);
	const connection = await stub.storeGrant(record.id, user, grant, former ?? undefined);
	return { record: await switchTo(env, record, gate, former, connection), connection };
}

/** Keeps a grant from a sign-in started through the API until an admin confirms who completed it. */
export async function awaitConfirmation(env: Env, record: DestinationRecord, user: OutreachUser, grant: TokenGrant, callAt: number): Promise<DestinationRecord> {
	const gate = gateName(user);
	const stub = gateStub(env, gate);
	await stub.recordCall(callAt);
	const expiresAt = Date.now() + PENDING_TTL_MS;
	await stub.storePendingGrant(record.id, user, grant, expiresAt);
	const next = (await ledgerStub(env, record.id).setPendingConnection(record.id, { gate, user, expiresAt })) ?? record;
	destinationStore(env).noteDestination(next);
	log("info", "oauth_awaiting_confirmation", { destinationId: record.id, userId: user.id });
	return next;
}

/** Confirms a waiting grant; null when none waits (never started, dropped, or older than 10 minutes). */
export async function confirm(env: Env, record: DestinationRecord): Promise<{ record: DestinationRecord; connection: ConnectionRecord } | null> {
	const pending = record.pendingConnection;
	if (!pending || pending.expiresAt <= Date.now()) return null;
	const former = await currentGate(env, record);
	const connection = await gateStub(env, pending.gate).confirmGrant(record.id, former ?? undefined);
	if (!connection) return null;
	return { record: await switchTo(env, record, pending.gate, former, connection), connection };
}

/** Disconnects this destination only; other destinations of the same Outreach user keep their grants. */
export async function disconnect(env: Env, record: DestinationRecord): Promise<DestinationRecord> {
	const gate = await currentGate(env, record);
	if (gate) await gateStub(env, gate).removeGrant(record.id);
	const next = (await ledgerStub(env, record.id).setConnection(record.id, null)) ?? record;
	const store = destinationStore(env);
	store.noteConnection(record.id, null);
	store.noteDestination(next);
	log("info", "destination_disconnected", { destinationId: record.id });
	return next;
}

/**
 * The connection as its gate holds it (strongly consistent), so the console and the alerts never show
 * Connected for a grant the gate holds as lost, even while KV's copy is behind. KV's copy says which gate.
 */
export async function connectionOf(env: Env, record: DestinationRecord): Promise<ConnectionRecord | null> {
	const cached = await destinationStore(env).getConnection(record.id);
	const gates = [record.gate, cached ? gateName(cached.user) : null, cached?.gate ?? null].filter((g, i, all): g is string => g !== null && all.indexOf(g) === i);
	try {
		for (const gate of gates) {
			const held = await gateStub(env, gate).connection(record.id);
			if (held) return held;
		}
		return null;
	} catch {
		return cached;
	}
}

/** The destination as the API shows it, with its connection read from its gate. */
export async function viewOf(env: Env, record: DestinationRecord, base: string): Promise<DestinationView> {
	return destinationView(record, await connectionOf(env, record), base);
}
