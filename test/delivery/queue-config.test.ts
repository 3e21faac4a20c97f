import { describe, expect, it } from "vitest";
import { copyOverdueSeconds, QUEUE_MAX_RETRIES, QUEUE_RETRY_DELAY_SECONDS } from "../../src/delivery/message";
import toml from "../../wrangler.toml?raw";

/**
 * The ledger takes a copy as lost only once the queue can no longer be keeping it (copyOverdueSeconds): that
 * rests on the consumer's retries in wrangler.toml being the ones the code counts.
 */

function consumerOf(queue: string): Record<string, string> {
	const block = toml.split(/^\[\[queues\.consumers\]\]$/m).slice(1).find((b) => new RegExp(`^queue = "${queue}"$`, "m").test(b));
	expect(block, `wrangler.toml has a consumer of ${queue}`).toBeDefined();
	return Object.fromEntries([...block!.split(/^\[/m)[0]!.matchAll(/^(\w+) = (.+)$/gm)].map((m) => [m[1]!, m[2]!.replace(/^"(.*)"$/, "$1")]));
}

describe("the queue's retries", () => {
	it("are the ones the ledger counts before it takes a copy as lost", () => {
		const consumer = consumerOf("prospect-updates");
		expect(Number(consumer.max_retries)).toBe(QUEUE_MAX_RETRIES);
		expect(Number(consumer.retry_delay)).toBe(QUEUE_RETRY_DELAY_SECONDS);
		expect(consumer.dead_letter_queue).toBe("prospect-updates-dlq");
	});

	it("make a copy overdue only after every retry at its longest backoff: hours at the production base, minutes at the benchmark's", () => {
		// RETRY_BASE_SECONDS 30: 37.5 s doubling to 4,800 s, 10 retries, and the dead-letter queue's 5 minutes.
		expect(copyOverdueSeconds(30)).toBe(38 + 75 + 150 + 300 + 600 + 1200 + 2400 + 4800 * 3 + 300);
		expect(copyOverdueSeconds(2)).toBe(30 * 4 + 40 + 80 + 160 + 320 * 3 + 300);
	});
});
