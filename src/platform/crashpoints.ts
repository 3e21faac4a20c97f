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

/** How many passes are left, and, when armed for one destination, which one (`subject`). */
const armed = new Map<CrashPointName, { left: number; subject?: string }>();

/**
 * Makes the next `times` passes through `point` throw (tests only). With `subject` (a destination id), only passes
 * that name it count: the Worker tests share one runtime across files, and a late queue retry of an earlier file's
 * destination must not take the fault meant for this test's.
 */
export function crashAt(point: CrashPointName, times = 1, subject?: string): void {
	armed.set(point, { left: times, subject });
}

export function disarmAll(): void {
	armed.clear();
}

/** True, once per arming, when a test armed this point (for this `subject`, when it armed it for one). */
export function faultAt(point: CrashPointName, subject?: string): boolean {
	const a = armed.get(point);
	if (!a) return false;
	if (a.subject !== undefined && a.subject !== subject) return false;
	if (a.left <= 1) armed.delete(point);
	else a.left--;
	return true;
}

/** Throws when a test armed this point. */
export function crashPoint(point: CrashPointName): void {
	if (faultAt(point)) throw new Error(`crash injected at ${point}`);
}
