import { app } from "./app";
import { evaluateAlerts } from "./alerts/evaluate";
import { deliver, recordDeadLetters } from "./delivery";

export { Gate } from "./gate/gate";
export { Ledger } from "./ledger/ledger";
export { Sessions } from "./sessions";

const DEAD_LETTER_QUEUE = "prospect-updates-dlq";

export default {
	fetch: app.fetch,
	async queue(batch, env, _ctx) {
		if (batch.queue === DEAD_LETTER_QUEUE) await recordDeadLetters(batch, env);
		else await deliver(batch, env);
	},
	async scheduled(_controller, env, ctx) {
		ctx.waitUntil(evaluateAlerts(env));
	},
} satisfies ExportedHandler<Env, unknown>;
