import type { Destination } from "../../api/client";
import type { ConsoleContext } from "../context";
import { failurePage } from "../guard";

/** The `:id` destination from the API, or the page to answer instead (404, API failure). */
export async function destinationOr(c: ConsoleContext): Promise<{ destination: Destination } | { response: Response | Promise<Response> }> {
	const res = await c.var.client.getDestination(c.req.param("id") ?? "");
	return res.ok ? { destination: res.data } : { response: failurePage(c, res) };
}

/** Notices keyed by a query flag, so redirects can say what happened without echoing user input. */
export function notice<K extends string>(c: ConsoleContext, messages: Record<K, string>): string | undefined {
	for (const key of Object.keys(messages) as K[]) if (c.req.query(key) !== undefined) return messages[key];
	return undefined;
}
