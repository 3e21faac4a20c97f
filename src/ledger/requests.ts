/**
 * Recognising AEP's retries (design: "Which value wins", AEP's retries). AEP retries a request only when it
 * failed or timed out, twice, about 15 s and 30 s later. So a body byte-identical to one received in the last
 * 2 minutes whose first copy was answered after AEP's 2-second deadline, or never answered, is that request's
 * retry: it is answered with the first copy's counts and creates nothing. Any other identical body is a new
 * delivery — a profile may legitimately change back.
 */

export const RETRY_WINDOW_MS = 120_000;
export const AEP_DEADLINE_MS = 2_000;

export type IngestAnswer = { accepted: number; skipped: number; rejected: { index: number; error: string }[] };

type RequestRow = { request_id: string; body_hash: string; received_at: number; answered_at: number | null; answer: string };

export class Requests {
	private readonly sql: SqlStorage;

	constructor(storage: DurableObjectStorage) {
		this.sql = storage.sql;
		this.init();
	}

	init(): void {
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS requests (request_id TEXT PRIMARY KEY, body_hash TEXT NOT NULL, received_at INTEGER NOT NULL,
				answered_at INTEGER, answer TEXT NOT NULL);
			CREATE INDEX IF NOT EXISTS requests_hash ON requests (body_hash, received_at);
			CREATE INDEX IF NOT EXISTS requests_received ON requests (received_at);
		`);
	}

	/** The first copy's answer when a request with this body is a retry of one AEP gave up on, else null. */
	retryOf(bodyHash: string, receivedAt: number): { requestId: string; answer: IngestAnswer } | null {
		this.sql.exec(`DELETE FROM requests WHERE received_at < ?`, receivedAt - RETRY_WINDOW_MS);
		const first = this.sql
			.exec<RequestRow>(`SELECT * FROM requests WHERE body_hash = ? AND received_at >= ? ORDER BY received_at LIMIT 1`, bodyHash, receivedAt - RETRY_WINDOW_MS)
			.toArray()[0];
		if (!first) return null;
		const late = first.answered_at === null || first.answered_at - first.received_at > AEP_DEADLINE_MS;
		return late ? { requestId: first.request_id, answer: JSON.parse(first.answer) as IngestAnswer } : null;
	}

	remember(requestId: string, bodyHash: string, receivedAt: number, answer: IngestAnswer): void {
		this.sql.exec(
			`INSERT OR IGNORE INTO requests (request_id, body_hash, received_at, answered_at, answer) VALUES (?, ?, ?, NULL, ?)`,
			requestId,
			bodyHash,
			receivedAt,
			JSON.stringify(answer),
		);
	}

	/** The ingest request answered AEP at `at` (its own clock; the same Worker that received it). */
	answered(requestId: string, at: number): void {
		this.sql.exec(`UPDATE requests SET answered_at = ? WHERE request_id = ? AND answered_at IS NULL`, at, requestId);
	}
}
