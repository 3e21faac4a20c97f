/**
 * Per-isolate counters of the work each profile costs (KV reads, Durable Object calls, queue messages,
 * Outreach calls). Read through GET /api/metrics: exact under `wrangler dev` (one isolate), a sample of one
 * isolate in production. The benchmark divides them by the profiles it sent.
 */
export const metrics = {
	startedAt: new Date().toISOString(),
	profilesReceived: 0,
	kvReads: 0,
	kvWrites: 0,
	gateCalls: 0,
	ledgerCalls: 0,
	queueSendCalls: 0,
	queueMessagesSent: 0,
	patchCalls: 0,
	/** Bulk modify requests, and polls and item pages of their batches. */
	bulkCalls: 0,
	importCalls: 0,
	pollCalls: 0,
};

export type Metric = Exclude<keyof typeof metrics, "startedAt">;

export function count(metric: Metric, n = 1): void {
	metrics[metric] += n;
}
