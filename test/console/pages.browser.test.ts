import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDevVars, projectRoot, startStack, type Stack } from "../../scripts/stack.ts";
import { launchChromium } from "../helpers/chromium.ts";

/**
 * The seed's workflow in a real browser: headless Chromium (from npm, driven by playwright-core) against the
 * `npm start` stack — the Worker under `wrangler dev` and the local Outreach — on ports of its own.
 * sign in → create a destination → connect to the local Outreach → map → send the array sample to the
 * ingest URL → see the counts and the two rejects → fix the mapping → replay the failure.
 * A screenshot of each page lands in screenshots/ (git-ignored).
 */

const WORKER_PORT = 18787;
const OUTREACH_PORT = 18788;
const SHOTS = join(projectRoot, "screenshots");
const fixture = (name: string) => readFileSync(join(projectRoot, "test/fixtures", name), "utf8");
const mapping = JSON.parse(fixture("mapping.json")) as {
	identityNamespace: string;
	attributes: { source: string; target: string }[];
	segments: { segmentId: string; mappingId: number }[];
};

let stack: Stack;
let persistTo: string;
let vars: Record<string, string>;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
let destinationId = "";
let ingestUrl = "";
let ingestToken = "";

async function shot(name: string): Promise<void> {
	await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function outreach(path: string, body?: unknown): Promise<unknown> {
	const res = await fetch(`${stack.outreachUrl}${path}`, {
		method: body === undefined ? "GET" : "POST",
		headers: { "content-type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	expect(res.status, `${path} answered ${res.status}`).toBe(200);
	return res.json();
}

/** The number shown in one of the Activity page's count cards. */
async function count(name: string): Promise<number> {
	const text = await page.locator(`[data-count="${name}"] .value`).innerText();
	return Number(text.replace(/,/g, ""));
}

/** Reloads the Activity page until `done` holds (the queue delivers in the background). */
async function reloadUntil(done: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		if (await done().catch(() => false)) return;
		if (Date.now() > deadline) throw new Error("the Activity page did not reach the expected state in time");
		await page.waitForTimeout(500);
		await page.reload();
	}
}

beforeAll(async () => {
	mkdirSync(SHOTS, { recursive: true });
	persistTo = mkdtempSync(join(tmpdir(), "aep-browser-"));
	// A small budget (20 calls per 30 s), so a back-fill of a few dozen profiles makes a backlog to watch.
	vars = { ...generateDevVars(`http://127.0.0.1:${OUTREACH_PORT}`), RETRY_BASE_SECONDS: "1", OUTREACH_RATE_LIMIT: "20", OUTREACH_RATE_WINDOW_SECONDS: "30" };
	stack = await startStack({ workerPort: WORKER_PORT, outreachPort: OUTREACH_PORT, persistTo, vars });
	// custom4 gets a picklist, so AEP's raw status words fail (422) until the mapping says "Active".
	await outreach("/__fake/reset", { fieldRules: { custom4: { type: "inclusion", definition: ["Active", "Expired"] } }, rateLimit: { limit: 20, windowSeconds: 30 } });
	browser = await launchChromium();
	context = await browser.newContext({ baseURL: stack.workerUrl, viewport: { width: 1280, height: 860 } });
	page = await context.newPage();
	page.on("dialog", (d) => void d.accept());
	page.on("pageerror", (e) => pageErrors.push(String(e)));
	page.on("console", (m) => {
		// HTTP error statuses the flow provokes on purpose (a wrong token, an invalid form) are not script errors.
		if (m.type() === "error" && !m.text().startsWith("Failed to load resource: the server responded with a status of")) pageErrors.push(m.text());
	});
});

afterAll(async () => {
	await browser?.close();
	await stack?.stop();
	if (persistTo) rmSync(persistTo, { recursive: true, force: true });
});

describe("the console in Chromium", () => {
	it("sends an unsigned visitor to sign-in, then signs in with the admin token", async () => {
		await page.goto("/");
		expect(new URL(page.url()).pathname).toBe("/signin");
		await shot("01-signin");
		await page.fill("#token", "wrong-token-wrong-token-wrong-token");
		await page.click("button[type=submit]");
		await expect.poll(() => page.locator("[data-testid=signin-error]").count()).toBe(1);
		await page.fill("#token", vars.ADMIN_TOKEN!);
		await page.click("button[type=submit]");
		await page.waitForURL((u) => u.pathname === "/");
		expect(await page.locator("h2").first().innerText()).toContain("No destinations yet — create one");
		await shot("02-destinations-empty");

		// Chromium keeps a Secure cookie on http://127.0.0.1 (a potentially trustworthy origin).
		const [cookie] = await context.cookies();
		expect(cookie).toMatchObject({ name: "aep_console", httpOnly: true, secure: true, sameSite: "Lax" });
		expect(cookie!.value).not.toContain(vars.ADMIN_TOKEN!);
	});

	it("creates a destination and shows its ingest token once", async () => {
		await page.click("text=Create a destination");
		await page.fill("#name", "EU prospects");
		await page.fill("#description", "Trial-user segments from AEP → Outreach custom fields");
		await shot("03-new-destination");
		await page.click("button:has-text('Create destination')");
		await page.locator("[data-testid=created]").waitFor();
		expect(await page.locator("[data-testid=ingest-token]").innerText()).toMatch(/^[A-Za-z0-9_-]{43}$/);
		await shot("04-created");
		destinationId = (await page.locator("#destination-id").innerText()).trim();
		expect(destinationId).toMatch(/^[0-9a-f-]{36}$/);
	});

	it("connects to the local Outreach and comes back Connected ✓ with the user's email", async () => {
		await page.click("[data-testid=connect]");
		await page.waitForURL((u) => u.port === String(OUTREACH_PORT));
		await shot("05-outreach-signin");
		await page.fill("#email", "rep@example.com");
		await page.fill("#password", "outreach");
		await page.click("button[value=approve]");
		await page.waitForURL((u) => u.pathname === `/destinations/${destinationId}` && u.searchParams.get("connected") === "1");
		// The session cookie survived the round trip through Outreach (else: the sign-in page).
		expect(await page.locator("[data-testid=flash]").innerText()).toContain("Connected to Outreach as rep@example.com");
		expect(await page.locator("[data-testid=connection]").innerText()).toMatch(/Connected ✓\s+rep@example\.com/);
		await shot("06-connected");
	});

	it("maps the sample: identity, attributes, segments as custom fields", async () => {
		await page.click("nav.tabs >> text=Mapping");
		await page.fill("#identityNamespace", mapping.identityNamespace);
		for (const [i, a] of mapping.attributes.entries()) {
			await page.fill(`[name="attributes.${i}.source"]`, a.source);
			await page.selectOption(`[name="attributes.${i}.target"]`, a.target);
		}
		// A third attribute row through the "+ Add attribute" button: a list target shows the warning live.
		await page.click("[data-add-row=attributes]");
		await page.selectOption(`[name="attributes.${mapping.attributes.length}.target"]`, "emails");
		expect(await page.locator(".array-warning:visible").count()).toBe(1);
		await page.click(`[name="attributes.${mapping.attributes.length}.target"] >> xpath=ancestor::tr >> [data-remove-row]`);
		for (const [i, s] of mapping.segments.entries()) {
			await page.fill(`[name="segments.${i}.segmentId"]`, s.segmentId);
			await page.fill(`[name="segments.${i}.name"]`, i === 0 ? "Trial users" : "Webinar attendees");
			await page.fill(`[name="segments.${i}.mappingId"]`, String(s.mappingId));
		}
		expect(await page.locator("[data-testid=segment-row] .custom-label").first().innerText()).toBe("→ Custom field 4 (custom4)");
		await page.click("[data-testid=save-mapping]");
		await page.waitForURL((u) => u.searchParams.has("saved"));
		expect(await page.locator("[data-testid=flash]").innerText()).toContain("Mapping saved.");
		await shot("07-mapping");

		await page.click("[data-testid=verify]");
		expect(await page.locator("[data-testid=verify-result]").innerText()).toContain("Outreach would refuse some updates");
		await shot("08-mapping-verified");
	});

	it("shows what to enter in AEP, with a fresh token shown once", async () => {
		await page.click("nav.tabs >> text=Set up AEP");
		await shot("09-setup");
		await page.click("[data-testid=rotate]");
		await page.locator("[data-testid=rotated]").waitFor();
		ingestToken = (await page.locator("[data-testid=ingest-token]").innerText()).trim();
		ingestUrl = (await page.locator("[data-testid=ingest-url]").innerText()).trim();
		expect(ingestUrl).toBe(`${stack.workerUrl}/ingest/${destinationId}`);
		await shot("10-setup-rotated");
	});

	it("accepts the array sample at the ingest URL and shows the counts and the two rejects", async () => {
		const res = await fetch(ingestUrl, {
			method: "POST",
			headers: { Authorization: `Bearer ${ingestToken}`, "Content-Type": "application/json" },
			body: fixture("profiles-array.json"),
		});
		const answer = (await res.json()) as { accepted: number; rejected: { index: number }[] };
		expect(res.status).toBe(202);
		expect(answer.rejected.map((r) => r.index)).toEqual([2, 3]);

		await page.click("nav.tabs >> text=Activity");
		await reloadUntil(async () => (await count("received")) === 4 && (await count("pending")) === 0);
		expect(await count("rejected")).toBe(2);
		expect(await count("delivered")).toBe(1);
		expect(await count("failed")).toBe(1);
		expect(await page.locator("[data-testid=recent-errors] tbody tr").count()).toBeGreaterThanOrEqual(2);
		expect(await page.locator("[data-testid=segments]").innerText()).toContain("Trial users");
		expect(await page.locator("[data-testid=failure-row]").innerText()).toContain("Mapping ID 4");
		await shot("11-activity-failure");
	});

	it("replays the failure after the mapping is fixed", async () => {
		await page.click("nav.tabs >> text=Mapping");
		await page.fill('[name="statusValues.realized"]', "Active");
		await page.click("[data-testid=save-mapping]");
		await page.waitForURL((u) => u.searchParams.has("saved"));

		await page.click("nav.tabs >> text=Activity");
		await page.click("[data-testid=replay-one]");
		await page.waitForURL((u) => u.searchParams.get("replayed") === "1");
		expect(await page.locator("[data-testid=flash]").innerText()).toContain("Replaying 1 failure");
		await reloadUntil(async () => (await page.locator("[data-testid=failure-row]").count()) === 0 && (await count("delivered")) === 2);
		const prospect = (await outreach("/__fake/prospects/4212")) as { data: { attributes: Record<string, unknown> } };
		expect(prospect.data.attributes.custom4).toBe("Active");
		await shot("12-activity-replayed");
	});

	it("sets up alerts", async () => {
		await page.click("nav.tabs >> text=Alerts");
		await page.fill("#webhookUrl", "http://hooks.example.com/not-https");
		await page.check("[name=connectionLost]");
		await page.click("button:has-text('Save alerts')");
		expect(await page.locator("[data-error-for=webhookUrl]").innerText()).toContain("https");
		await shot("13-alerts-error");
		await page.fill("#webhookUrl", "https://hooks.slack.com/services/T000/B000/XXXX");
		await page.fill("#failureRatePercent", "10");
		await page.fill("#pendingOlderThanMinutes", "30");
		await page.click("button:has-text('Save alerts')");
		await page.waitForURL((u) => u.searchParams.has("saved"));
		await shot("14-alerts");
	});

	it("lists the destination with its status and today's volume, and the checklist is done", async () => {
		await page.click("nav.tabs >> text=Overview");
		expect(await page.locator("[data-testid=checklist] .step.done").count()).toBe(5);
		await shot("15-overview");
		await page.click("nav.topnav >> text=Destinations");
		const row = await page.locator("[data-testid=destinations] tbody tr").innerText();
		expect(row).toContain("EU prospects");
		expect(row).toContain("Connected ✓");
		expect(row).toContain("4 received");
		await shot("16-destinations");
	});

	it("shows a back-fill waiting for the budget as a progress bar, with when it will all have landed", async () => {
		const segment = mapping.segments[0]!.segmentId;
		const backfill = Array.from({ length: 60 }, (_, i) => ({
			segmentMembership: { ups: { [segment]: { status: "realized", lastQualificationTime: "2026-11-20T10:00:00Z" } } },
			identityMap: { [mapping.identityNamespace]: [{ id: String(7000 + i) }] },
		}));
		for (let i = 0; i < backfill.length; i += 10) {
			const res = await fetch(ingestUrl, { method: "POST", headers: { Authorization: `Bearer ${ingestToken}`, "Content-Type": "application/json" }, body: JSON.stringify(backfill.slice(i, i + 10)) });
			expect(res.status).toBe(202);
		}
		await page.goto(`/destinations/${destinationId}/activity`);
		const line = page.locator("[data-testid=backlog-line]");
		await reloadUntil(async () => /\d+ waiting/.test(await line.innerText()));
		expect(await line.innerText()).toMatch(/^[\d,]+ waiting · at 2,400\/h, all landed by (\d{2}:\d{2}|\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC$/);
		expect(Number(await page.locator("[data-testid=backlog] [role=progressbar]").getAttribute("aria-valuenow"))).toBeGreaterThanOrEqual(0);
		await shot("17-activity-backlog");
	});

	it("refuses a form posted without the CSRF token, and signs out", async () => {
		const res = await context.request.post("/destinations", { form: { name: "forged" }, maxRedirects: 0, headers: { Origin: stack.workerUrl } });
		expect(res.status()).toBe(403);
		await page.click("button:has-text('Sign out')");
		await page.waitForURL((u) => u.pathname === "/signin");
		await page.goto(`/destinations/${destinationId}/activity`);
		expect(new URL(page.url()).pathname).toBe("/signin");
	});

	it("ran without a script error or CSP violation", () => {
		expect(pageErrors).toEqual([]);
	});

	it("logged the run's events, and no token", async () => {
		const out = stack.output();
		for (const event of ["ingest_accepted", "batch_delivered", "failure_recorded"]) expect(out, event).toContain(event);
		const { tokens } = (await outreach("/__fake/tokens")) as { tokens: { value: string }[] };
		expect(tokens.length).toBeGreaterThan(0);
		for (const t of tokens) expect(out.includes(t.value), "an Outreach token in the logs").toBe(false);
		expect(out.includes(ingestToken), "the ingest token in the logs").toBe(false);
		expect(out.includes(vars.ADMIN_TOKEN!), "the admin token in the logs").toBe(false);
	});
});
