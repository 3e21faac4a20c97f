/** Display helpers: numbers, instants and durations the way the console shows them (UTC, en-US grouping). */

const nf = new Intl.NumberFormat("en-US");

export const num = (n: number | null | undefined): string => nf.format(n ?? 0);

/** An instant as the API answers it (ISO-8601) or as epoch ms. */
export type Instant = number | string | null | undefined;

/** Epoch ms of an instant, or null when it is absent or unreadable. */
export function ms(at: Instant): number | null {
	if (at === null || at === undefined || at === "") return null;
	const t = typeof at === "number" ? at : Date.parse(at);
	return Number.isFinite(t) ? t : null;
}

/** `2026-11-21 09:05 UTC` */
export function utc(at: Instant): string {
	const t = ms(at);
	if (t === null) return "—";
	return new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** `09:05 UTC` for today, else the full form. */
export function utcShort(at: Instant, now = Date.now()): string {
	const t = ms(at);
	if (t === null) return "—";
	const d = new Date(t).toISOString();
	return d.slice(0, 10) === new Date(now).toISOString().slice(0, 10) ? `${d.slice(11, 16)} UTC` : utc(t);
}

/** `4 min`, `2 h 5 min`, `3 days` */
export function duration(ms: number): string {
	const s = Math.max(0, Math.round(ms / 1000));
	if (s < 60) return `${s} s`;
	const m = Math.round(s / 60);
	if (m < 60) return `${m} min`;
	const h = Math.floor(m / 60);
	if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
	return `${Math.round(h / 24)} days`;
}

/** `5 min ago`, `in 12 min` */
export function relative(at: Instant, now = Date.now()): string {
	const t = ms(at);
	if (t === null) return "—";
	const d = now - t;
	if (Math.abs(d) < 30_000) return "just now";
	return d > 0 ? `${duration(d)} ago` : `in ${duration(-d)}`;
}

export const plural = (n: number, one: string, many = `${one}s`) => `${num(n)} ${n === 1 ? one : many}`;

export function startOfUtcDay(now = Date.now()): number {
	const d = new Date(now);
	return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}
