/**
 * Named points on the hand-offs between ingest, queue, consumer and ledger where the crash tests make the
 * Worker fail, to prove that an update is never lost, stuck or multiplied whichever step dies. Nothing in the
 * product arms one: `crashPoint` is a no-op unless a test called `crashAt` in the same isolate.
 */

export type CrashPointName =
	/** The ledger committed an ingest receipt; its queue write has not happened yet. */
	| "ledger.receipt"
	/** Inside the outbox's `sendBatch` to the queue. */
	| "outbox.send"
	/** Outreach answered a PATCH; the gate has not been told yet. */
	| "delivery.patched"
	/** Inside the ledger's recording of a consumer batch's outcomes, before it commits. */
	| "ledger.record"
	/** The ledger committed a batch's outcomes; its re-sends are not handed to the queue yet. */
	| "ledger.resend"
	/** The queue loses a message: the consumer acknowledges it unread (not a crash: `faultAt` answers true). */
	| "queue.lost";

const armed = new Map<CrashPointName, number>();

/** Makes the next `times` passes through `point` throw (tests only). */
export function crashAt(point: CrashPointName, times = 1): void {
	armed.set(point, times);
}

export function disarmAll(): void {
	armed.clear();
}

/** True, once per arming, when a test armed this point. */
export function faultAt(point: CrashPointName): boolean {
	const left = armed.get(point);
	if (!left) return false;
	if (left <= 1) armed.delete(point);
	else armed.set(point, left - 1);
	return true;
}

/** Throws when a test armed this point. */
export function crashPoint(point: CrashPointName): void {
	if (faultAt(point)) throw new Error(`crash injected at ${point}`);
}
