import { app } from "./app";
import { evaluateAlerts } from "./alerts/evaluate";
import { deliver } from "./delivery/consumer";
import { recordDeadLetters } from "./delivery/dead-letter";

export { Gate } from "./gate/gate";
export { Ledger } from "./ledger/ledger";
export { Sessions } from "./auth/sessions";
export { Audit } from "./audit/audit";

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
