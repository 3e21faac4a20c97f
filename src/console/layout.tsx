import type { Child, FC } from "hono/jsx";
import { roleOf, type Principal } from "../auth/principal";
import { raw } from "hono/html";
import type { Destination } from "../api/client";
import { Csrf, StatusBadges } from "./components";

const Logo: FC = () => (
	<svg width="28" height="28" viewBox="0 0 28 28" aria-hidden="true">
		<rect width="28" height="28" rx="7" fill="#4453c8" />
		<path d="M7 18.5 11.5 9h1.2L17 18.5" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
		<path d="M15.5 14h6m-2.2-2.4L21.7 14l-2.4 2.4" fill="none" stroke="#c9cff7" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
	</svg>
);

export const Brand: FC = () => (
	<a class="brand" href="/">
		<Logo />
		<span>AEP → Outreach</span>
	</a>
);

/** The HTML document around every console page. */
export const Document: FC<{ title: string; children: Child }> = ({ title, children }) => (
	<>
		{raw("<!doctype html>")}
		<html lang="en">
			<head>
				<meta charset="utf-8" />
				<meta name="viewport" content="width=device-width, initial-scale=1" />
				<meta name="referrer" content="no-referrer" />
				<title>{`${title} · AEP → Outreach`}</title>
				<link rel="icon" href="/favicon.svg" type="image/svg+xml" />
				<link rel="stylesheet" href="/console.css" />
				<script src="/console.js" defer></script>
			</head>
			<body>{children}</body>
		</html>
	</>
);

/** A signed-in page: top bar, content, footer. */
/** Who is signed in and with which role, shown on every page (what a role may not do is hidden or disabled). */
function whoLabel(p: Principal): string {
	if (p.kind === "owner") return "Owner (admin token) · every right";
	if (p.kind === "key") return `API key ${p.name} · role: ${p.role}`;
	if (p.kind === "access") return `${p.email} · role: ${p.role}`;
	return "system";
}

export const Shell: FC<{ title: string; csrf: string; principal?: Principal; children: Child }> = ({ title, csrf, principal, children }) => (
	<Document title={title}>
		<header class="topbar">
			<div class="topbar-inner">
				<Brand />
				<nav class="topnav" aria-label="Main">
					<a href="/">Destinations</a>
					<a href="/audit">Audit</a>
					<a href="/prospects">Find a prospect</a>
					{principal && (principal.kind === "owner" || (principal.kind !== "system" && principal.role === "manage")) && <a href="/keys">Keys</a>}
				</nav>
				{principal && (
					<span class="muted small" data-testid="signed-in-as">
						{whoLabel(principal)}
					</span>
				)}
				<form method="post" action="/signout">
					<Csrf token={csrf} />
					<button type="submit" class="btn link">
						Sign out
					</button>
				</form>
			</div>
		</header>
		{/* What the role may not do is hidden by the stylesheet ([data-needs] under [data-role]); the API refuses it anyway. */}
		<main class="container" data-role={principal ? roleOf(principal) : "owner"}>
			{children}
		</main>
		<footer class="footer">
			Times are UTC. Changes reach every Cloudflare location within about a minute. Live logs: <code>wrangler tail --format json</code>.
		</footer>
	</Document>
);

export type Tab = "overview" | "mapping" | "setup" | "activity" | "alerts";

const tabs: [Tab, string, string][] = [
	["overview", "Overview", ""],
	["mapping", "Mapping", "/mapping"],
	["setup", "Set up AEP", "/setup"],
	["activity", "Activity", "/activity"],
	["alerts", "Alerts", "/alerts"],
];

export const destinationPath = (id: string, suffix = "") => `/destinations/${encodeURIComponent(id)}${suffix}`;

/** Breadcrumb, name, status badges and the tabs of one destination's pages. */
export const DestinationHeader: FC<{ destination: Destination; tab: Tab; actions?: Child }> = ({ destination, tab, actions }) => (
	<>
		<div class="crumbs">
			<a href="/">Destinations</a> / {destination.name}
		</div>
		<div class="page-head">
			<div>
				<div class="title-row">
					<h1>{destination.name}</h1>
					<StatusBadges destination={destination} />
				</div>
				{destination.description && <p>{destination.description}</p>}
			</div>
			{actions}
		</div>
		<nav class="tabs" aria-label="Destination">
			{tabs.map(([key, label, suffix]) => (
				<a href={destinationPath(destination.id, suffix)} aria-current={key === tab ? "page" : undefined}>
					{label}
				</a>
			))}
		</nav>
	</>
);
