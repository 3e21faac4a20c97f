import type { Activity } from "../api/client";

/** An hour's counts (held work is counted in total only). */
type Counts = Omit<Activity["hours"][number], "hour">;
import { num, utc } from "./format";

/** The outcome series stacked in each hour's bar, bottom to top; together they make `received`. */
export const SERIES = ["delivered", "superseded", "pending", "failed", "rejected", "skipped"] as const satisfies readonly (keyof Counts)[];

const HOUR = 3_600_000;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const W = 700;
const H = 210;
const LEFT = 36;
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 26;

/** A round axis maximum at or above `n` (1, 2, 5 × 10^k). */
function niceMax(n: number): number {
	if (n <= 4) return 4;
	const pow = 10 ** Math.floor(Math.log10(n));
	for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= n) return m * pow;
	return 10 * pow;
}

/** The last `hours` hourly buckets ending with the current hour, zero-filled. */
export function lastHours(activity: Activity, now: number, hours = 48): { hour: number; counts: Counts }[] {
	const current = Math.floor(now / HOUR) * HOUR;
	const byHour = new Map<number, Counts>();
	for (const h of activity.hours) byHour.set(Math.floor(Date.parse(h.hour) / HOUR) * HOUR, h);
	const zero: Counts = { received: 0, rejected: 0, skipped: 0, pending: 0, delivered: 0, failed: 0, superseded: 0 };
	return Array.from({ length: hours }, (_, i) => {
		const hour = current - (hours - 1 - i) * HOUR;
		return { hour, counts: byHour.get(hour) ?? zero };
	});
}

/** An inline-SVG stacked bar chart of the last 48 hours (no script, no inline style: CSP-friendly). */
export function HourlyChart({ activity, now }: { activity: Activity; now: number }) {
	const buckets = lastHours(activity, now);
	const total = (c: Counts) => SERIES.reduce((s, k) => s + c[k], 0);
	const peak = Math.max(0, ...buckets.map((b) => total(b.counts)));
	const max = niceMax(peak);
	const plotW = W - LEFT - RIGHT;
	const plotH = H - TOP - BOTTOM;
	const slot = plotW / buckets.length;
	const barW = Math.max(2, slot - 2.5);
	const y = (v: number) => TOP + plotH - (v / max) * plotH;
	const ticks = [0, max / 2, max];
	return (
		<svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Updates per hour, last 48 hours; peak ${num(peak)} in one hour`} data-testid="hourly-chart">
			{ticks.map((t) => (
				<g>
					<line class="grid-line" x1={LEFT} x2={W - RIGHT} y1={y(t)} y2={y(t)} />
					<text class="axis-label" x={LEFT - 8} y={y(t) + 3.5} text-anchor="end">
						{num(t)}
					</text>
				</g>
			))}
			{buckets.map((b, i) => {
				const x = LEFT + i * slot + (slot - barW) / 2;
				let base = 0;
				const d = new Date(b.hour);
				const label = d.getUTCHours() % 6 === 0;
				const tip = `${utc(b.hour)} — ${num(b.counts.received)} received: ${SERIES.map((k) => `${num(b.counts[k])} ${k}`).join(", ")}`;
				return (
					<g>
						{SERIES.map((k) => {
							const v = b.counts[k];
							if (v <= 0) return null;
							const top = y(base + v);
							const h = y(base) - top;
							base += v;
							return <rect class={`bar-${k}`} x={x.toFixed(1)} y={top.toFixed(1)} width={barW.toFixed(1)} height={Math.max(1, h).toFixed(1)} rx="1.5" />;
						})}
						<rect class="hover-col" x={(LEFT + i * slot).toFixed(1)} y={TOP} width={slot.toFixed(1)} height={plotH}>
							<title>{tip}</title>
						</rect>
						{label && (
							<text class="axis-label" x={(x + barW / 2).toFixed(1)} y={H - 8} text-anchor="middle">
								{d.getUTCHours() === 0 ? `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}` : `${String(d.getUTCHours()).padStart(2, "0")}:00`}
							</text>
						)}
					</g>
				);
			})}
			{peak === 0 && (
				<text class="axis-label" x={LEFT + plotW / 2} y={TOP + plotH / 2} text-anchor="middle">
					No profiles in the last 48 hours
				</text>
			)}
		</svg>
	);
}
