/**
 * Bounds on what the Worker echoes back. Messages quote what they received so people can see what was
 * wrong, but input is unbounded (a 5 MB namespace, a 50 KB detail from Outreach): echoed whole, it would grow
 * the ingest answer, the Activity answer and page, and the ledger's rows (a Durable Object row over 2 MB
 * fails on Cloudflare). So one value is quoted with `quote`, and a whole message is kept with `capMessage`.
 */

/** `text` cut to `max` UTF-16 units, never splitting a surrogate pair. */
function cut(text: string, max: number): string {
	const head = text.slice(0, max);
	return /[\ud800-\udbff]$/.test(head) ? head.slice(0, -1) : head;
}

/** At most `max` characters of one input value, for embedding in a message; a cut says how much was left out. */
export function quote(value: string, max = 200): string {
	if (value.length <= max) return value;
	return `${cut(value, max)}… (${(value.length - max).toLocaleString("en-US")} more characters)`;
}

/**
 * A whole message in at most `max` characters. Its start and its end are kept — the end often names the
 * thing to fix (e.g. "Mapping ID 4") — and the middle gives way.
 */
export function capMessage(message: string, max = 1_000): string {
	if (message.length <= max) return message;
	const marker = ` […${(message.length - max).toLocaleString("en-US")} characters left out…] `;
	const tail = Math.floor((max - marker.length) / 4);
	const head = max - marker.length - tail;
	const end = message.slice(message.length - tail);
	return cut(message, head) + marker + (/^[\udc00-\udfff]/.test(end) ? end.slice(1) : end);
}
