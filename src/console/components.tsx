import type { Child, FC } from "hono/jsx";
import { CSRF_FIELD } from "../auth/session";
import type { Destination, Problem } from "../api/client";

/** The hidden CSRF field every console form carries. */
export const Csrf: FC<{ token: string }> = ({ token }) => <input type="hidden" name={CSRF_FIELD} value={token} />;

type Tone = "ok" | "warn" | "bad" | "neutral" | "info";

export const Badge: FC<{ tone: Tone; children: Child; title?: string }> = ({ tone, children, title }) => (
	<span class={`badge ${tone}`} title={title}>
		{children}
	</span>
);

/** The connection status word of the contract, as the console says it. */
export function connectionBadge(d: Pick<Destination, "status">) {
	switch (d.status) {
		case "connected":
			return <Badge tone="ok">Connected ✓</Badge>;
		case "reconnect_required":
			return (
				<Badge tone="bad" title="Outreach refused this connection; updates are held until you reconnect">
					Reconnect required
				</Badge>
			);
		case "confirmation_required":
			return (
				<Badge tone="warn" title="A sign-in started through the API waits for you to confirm the Outreach user">
					Confirmation required
				</Badge>
			);
		default:
			return <Badge tone="neutral">Not connected</Badge>;
	}
}

/** Connection status plus "Paused" when the destination is switched off. */
export const StatusBadges: FC<{ destination: Pick<Destination, "status" | "enabled"> }> = ({ destination }) => (
	<span class="badges" data-testid="status">
		{connectionBadge(destination)}
		{!destination.enabled && (
			<Badge tone="warn" title="Updates are accepted and held until you resume the destination">
				Paused
			</Badge>
		)}
	</span>
);

export const Callout: FC<{ tone: Exclude<Tone, "neutral">; title?: string; children?: Child; testid?: string }> = ({ tone, title, children, testid }) => (
	<div class={`callout ${tone}`} role={tone === "bad" ? "alert" : "status"} data-testid={testid}>
		<span class="icon">{icons[tone === "ok" ? "check" : tone === "info" ? "info" : "alert"]}</span>
		<div>
			{title && (
				<p>
					<strong>{title}</strong>
				</p>
			)}
			{children}
		</div>
	</div>
);

export const EmptyState: FC<{ title: string; children?: Child; icon?: keyof typeof icons; compact?: boolean }> = ({ title, children, icon, compact }) => (
	<div class={compact ? "empty compact" : "empty"}>
		{!compact && <div class="empty-icon">{icons[icon ?? "plus"]}</div>}
		<h2>{title}</h2>
		{children}
	</div>
);

/** The problems reported for exactly `path` (dotted, as the API answers them). */
export function problemsAt(problems: Problem[], path: string): Problem[] {
	return problems.filter((p) => p.path === path);
}

export const FieldErrors: FC<{ problems: Problem[]; path: string }> = ({ problems, path }) => (
	<>
		{problemsAt(problems, path).map((p) => (
			<p class="error-text" data-error-for={path}>
				{p.message}
			</p>
		))}
	</>
);

/** A read-only value with a copy button (the button appears only with JavaScript). */
export const CopyField: FC<{ id: string; value: string; secret?: boolean; testid?: string }> = ({ id, value, secret, testid }) => (
	<div class="copy-field">
		<output id={id} class={secret ? "secret" : undefined} data-testid={testid}>
			{value}
		</output>
		<button type="button" class="btn small" data-copy={id} data-js hidden>
			Copy
		</button>
	</div>
);

const svg = (path: Child, size = 18) => (
	<svg width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
		{path}
	</svg>
);

export const icons = {
	check: svg(<path d="M20 6 9 17l-5-5" />),
	info: svg(
		<>
			<circle cx="12" cy="12" r="10" />
			<path d="M12 16v-4M12 8h.01" />
		</>,
	),
	alert: svg(
		<>
			<path d="M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z" />
			<path d="M12 9v4M12 17h.01" />
		</>,
	),
	plus: svg(<path d="M12 5v14M5 12h14" />, 26),
	chart: svg(<path d="M3 3v18h18M7 15l4-4 3 3 5-6" />, 26),
	bell: svg(<path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9M10.3 21a1.9 1.9 0 0 0 3.4 0" />, 26),
	inbox: svg(<path d="M22 12h-6l-2 3h-4l-2-3H2M5.5 5.1 2 12v6a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2v-6l-3.5-6.9A2 2 0 0 0 16.8 4H7.2a2 2 0 0 0-1.7 1.1z" />, 26),
};
