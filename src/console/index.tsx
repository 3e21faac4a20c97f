import { Hono } from "hono";
import { csrf } from "hono/csrf";
import { js } from "./assets/script";
import { css } from "./assets/styles";
import type { ConsoleEnv } from "./context";
import { consoleHeaders, requireSession } from "./guard";
import { registerActivity } from "./pages/activity";
import { registerAlerts } from "./pages/alerts";
import { registerDestination } from "./pages/destination";
import { registerDestinations } from "./pages/destinations";
import { registerMapping } from "./pages/mapping";
import { registerGovernance } from "./pages/governance";
import { registerSetup } from "./pages/setup";
import { registerSignIn } from "./pages/signin";

/**
 * The web console at `/`: server-rendered Hono JSX over the admin API (called in-process). Every page needs
 * a session (else a redirect to /signin); every form post needs the session's CSRF token (else 403), and
 * must come from this origin (hono's csrf() origin check, an extra layer).
 */
export const consoleApp = new Hono<ConsoleEnv>();

const favicon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 28 28"><rect width="28" height="28" rx="7" fill="#4453c8"/><path d="M7 18.5 11.5 9h1.2L17 18.5" fill="none" stroke="#fff" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

const asset = (body: string, type: string) => () =>
	new Response(body, { headers: { "Content-Type": type, "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff" } });
consoleApp.get("/console.css", asset(css, "text/css; charset=utf-8"));
consoleApp.get("/console.js", asset(js, "text/javascript; charset=utf-8"));
consoleApp.get("/favicon.svg", asset(favicon, "image/svg+xml"));

// Only the console's own paths: the rest of the Worker (/api, /ingest, /oauth, 404s) keeps its JSON answers.
const originCheck = csrf();
consoleApp.use("/signin", consoleHeaders, originCheck);
consoleApp.use("/signout", consoleHeaders, originCheck);
consoleApp.use("/", consoleHeaders, originCheck, requireSession);
consoleApp.use("/destinations/*", consoleHeaders, originCheck, requireSession); // also matches /destinations
for (const path of ["/audit", "/prospects", "/prospects/*", "/keys", "/keys/*"]) consoleApp.use(path, consoleHeaders, originCheck, requireSession);

registerSignIn(consoleApp);
registerDestinations(consoleApp);
registerDestination(consoleApp);
registerMapping(consoleApp);
registerSetup(consoleApp);
registerActivity(consoleApp);
registerAlerts(consoleApp);
registerGovernance(consoleApp);
