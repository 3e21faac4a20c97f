/**
 * Structured logs: one JSON object per meaningful event, so `wrangler tail --format json | jq` can filter
 * them. Callers pass ids and counts only — never a token, never a profile's values.
 */
export type LogLevel = "info" | "warn" | "error";

export function log(level: LogLevel, event: string, fields: Record<string, unknown> = {}): void {
	const line = { level, event, ...fields };
	if (level === "error") console.error(line);
	else if (level === "warn") console.warn(line);
	else console.log(line);
}
