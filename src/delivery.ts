/** The queue consumer: prospect updates → Outreach PATCHes (stub). */
export async function deliver(batch: MessageBatch<unknown>, env: Env): Promise<void> {
	void env;
	batch.retryAll();
}

/** The dead-letter queue's consumer: records each update as failed (stub). */
export async function recordDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
	void env;
	batch.retryAll();
}
