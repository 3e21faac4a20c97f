import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import mappingFixture from "../fixtures/mapping.json";
import profilesArray from "../fixtures/profiles-array.json";
import { REP, resetOutreach, signIn } from "../helpers/control";
import { activity, failures, ingest, ingestOk } from "../helpers/data";
import { get, page, post, signInConsole, text, type Browser } from "./helpers";

/**
 * The seed's workflow through the console's forms, as a browser would drive it (the browser test does the
 * same in Chromium): create → connect → map → set up AEP → activity → failure → fix → replay.
 * Steps share one destination, in order.
 */

let browser: Browser;
let id = "";
let ingestToken = "";

/** The form fields of the sample mapping, as the mapping page names them. */
function mappingFields(statusRealized = ""): Record<string, string> {
	const f: Record<string, string> = { identityNamespace: mappingFixture.identityNamespace };
	mappingFixture.attributes.forEach((a, i) => {
		f[`attributes.${i}.source`] = a.source;
		f[`attributes.${i}.target`] = a.target;
	});
	mappingFixture.segments.forEach((s, i) => {
		f[`segments.${i}.segmentId`] = s.segmentId;
		f[`segments.${i}.mappingId`] = String(s.mappingId);
		f[`segments.${i}.name`] = `Segment ${i + 1}`;
	});
	if (statusRealized) f["statusValues.realized"] = statusRealized;
	return f;
}

async function form(path: string, fields: Record<string, string>, from: string): Promise<Response> {
	const { csrf } = await page(from, browser);
	return post(path, { ...fields, _csrf: csrf }, browser);
}

beforeAll(async () => {
	// custom4 has a picklist: AEP's raw status words are refused (422) until the mapping says "Active".
	await resetOutreach({ prospects: [4212, 4213], fieldRules: { custom4: { type: "inclusion", definition: ["Active", "Expired"] } } });
	browser = await signInConsole();
});

describe("the console, step by step", () => {
	it("starts with an empty state that says what to do", async () => {
		const { html } = await page("/", browser);
		expect(text(html)).toContain("No destinations yet — create one");
		expect(html).toContain('href="/destinations/new"');
	});

	it("creates a destination and shows its ingest token once", async () => {
		const empty = await form("/destinations", { name: "", description: "" }, "/destinations/new");
		expect(empty.status).toBe(400);
		expect(await empty.text()).toMatch(/data-error-for="name"/);

		const res = await form("/destinations", { name: "EU prospects", description: "Trial users → Outreach" }, "/destinations/new");
		expect(res.status).toBe(200);
		const html = await res.text();
		ingestToken = /data-testid="ingest-token">([A-Za-z0-9_-]{43})</.exec(html)![1]!;
		id = /\/destinations\/([0-9a-f-]{36})\/mapping/.exec(html)![1]!;
		expect(text(html)).toContain("shown only this once");
		expect(text(html)).toContain("Not connected");

		const overview = await page(`/destinations/${id}`, browser);
		expect(overview.html).not.toContain(ingestToken);
		const list = await page("/", browser);
		expect(text(list.html)).toContain("EU prospects");
		expect(text(list.html)).toContain("Not connected");
	});

	it("connects to Outreach through its sign-in, bound to this console session", async () => {
		const start = await form(`/destinations/${id}/connect`, {}, `/destinations/${id}`);
		expect(start.status).toBe(303);
		const authorizeUrl = start.headers.get("Location")!;
		expect(authorizeUrl.startsWith(`${env.OUTREACH_API_BASE}/oauth/authorize?`)).toBe(true);

		const back = new URL(await signIn(authorizeUrl));
		// Another browser (no session cookie) cannot finish this sign-in…
		const stranger = await SELF.fetch(`http://localhost${back.pathname}${back.search}`, { redirect: "manual" });
		expect(stranger.status).toBe(400);
		// …the one that started it can: the SameSite=Lax cookie comes along on the top-level return.
		const res = await get(`${back.pathname}${back.search}`, browser);
		expect(res.status).toBe(302);
		expect(res.headers.get("Location")).toBe(`/destinations/${id}?connected=1`);

		const { html } = await page(`/destinations/${id}?connected=1`, browser);
		expect(text(html)).toContain(`Connected to Outreach as ${REP.email}`);
		expect(html).toMatch(/Connected ✓<\/span> <span class="who" data-testid="connected-user">rep@example.com/);
	});

	it("shows mapping errors beside their fields", async () => {
		const fields = mappingFields();
		fields["segments.1.mappingId"] = "151";
		fields["attributes.1.target"] = "custom4";
		const res = await form(`/destinations/${id}/mapping`, fields, `/destinations/${id}/mapping`);
		expect(res.status).toBe(400);
		const html = await res.text();
		expect(html).toMatch(/data-error-for="segments\.1\.mappingId">must be from 1 to 150/);
		expect(html).toMatch(/data-error-for="attributes\.1\.target">custom fields are written by segments/);
		expect(html).toContain('value="151"'); // what was typed stays
	});

	it("saves the sample mapping and shows Mapping IDs as custom fields", async () => {
		const res = await form(`/destinations/${id}/mapping`, mappingFields(), `/destinations/${id}/mapping`);
		expect(res.status).toBe(303);
		const { html } = await page(res.headers.get("Location")!, browser);
		expect(text(html)).toContain("Mapping saved.");
		expect(text(html)).toContain("Custom field 4 (custom4)");
		expect(text(html)).toContain("Custom field 7 (custom7)");
		expect(html).toMatch(/<option value="firstName" selected="">/);
	});

	it("warns when an attribute targets one of Outreach's lists", async () => {
		const fields = { ...mappingFields(), "attributes.2.source": "personalEmail.address", "attributes.2.target": "emails" };
		const res = await form(`/destinations/${id}/mapping`, fields, `/destinations/${id}/mapping`);
		expect(res.status).toBe(200);
		expect(text(await res.text())).toContain("replaces the whole list");
		// and back to the sample
		expect((await form(`/destinations/${id}/mapping`, mappingFields(), `/destinations/${id}/mapping`)).status).toBe(303);
	});

	it("verifies against Outreach: the picklist on custom4 refuses the raw status words", async () => {
		const res = await form(`/destinations/${id}/mapping/verify`, {}, `/destinations/${id}/mapping`);
		expect(res.status).toBe(200);
		const t = text(await res.text());
		expect(t).toContain("Outreach would refuse some updates");
		expect(t).toContain("Custom field 4");
	});

	it("shows exactly what to enter in AEP, and rotates the token (shown once)", async () => {
		const { html } = await page(`/destinations/${id}/setup`, browser);
		const t = text(html);
		expect(t).toContain(`${env.PUBLIC_BASE_URL}/ingest/${id}`); // PUBLIC_BASE_URL wins over the request origin
		expect(t).toContain("Bearer token");
		expect(t).toContain("Include Segment Names");
		expect(t).toContain("POST");
		expect(html).not.toContain(ingestToken);

		const res = await form(`/destinations/${id}/setup/rotate`, {}, `/destinations/${id}/setup`);
		expect(res.status).toBe(200);
		const rotated = /data-testid="ingest-token">([A-Za-z0-9_-]{43})</.exec(await res.text())![1]!;
		expect(rotated).not.toBe(ingestToken);
		ingestToken = rotated;
	});

	it("shows the counts, the two rejects and the failures on the Activity page", async () => {
		const answer = await ingestOk(id, ingestToken, profilesArray);
		expect(answer.rejected).toHaveLength(2);
		await vi.waitUntil(async () => (await activity(id)).totals.pending === 0, { timeout: 60_000, interval: 250 });

		const { html } = await page(`/destinations/${id}/activity`, browser);
		const count = (name: string) => Number(new RegExp(`data-count="${name}"[\\s\\S]*?<div class="value">([\\d,]+)<`).exec(html)![1]!.replace(/,/g, ""));
		expect(count("received")).toBe(4);
		expect(count("rejected")).toBe(2);
		expect(count("failed")).toBe(1); // Bruno's "existing" is not in custom4's picklist
		expect(count("delivered")).toBe(1);
		expect(html).toContain('data-testid="hourly-chart"');
		expect(html).toContain("8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10");
		expect(text(html)).toContain("Segment 1");
		const rows = html.match(/data-testid="failure-row"/g) ?? [];
		expect(rows).toHaveLength(1);
		expect(text(html)).toContain("Mapping ID 4");
	});

	it("replays a failure after the mapping is fixed", async () => {
		expect((await form(`/destinations/${id}/mapping`, mappingFields("Active"), `/destinations/${id}/mapping`)).status).toBe(303);
		const [failure] = await failures(id);
		const res = await form(`/destinations/${id}/failures/replay`, { id: failure!.id }, `/destinations/${id}/activity`);
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toBe(`/destinations/${id}/activity?replayed=1#failures`);
		await vi.waitUntil(async () => (await failures(id)).length === 0, { timeout: 60_000, interval: 250 });
		const { html } = await page(`/destinations/${id}/activity`, browser);
		expect(text(html)).toContain("No failures");
		expect(Number(/data-count="delivered"[\s\S]*?<div class="value">(\d+)</.exec(html)![1])).toBe(2);
	});

	it("saves alerts, with errors beside their fields", async () => {
		const bad = await form(
			`/destinations/${id}/alerts`,
			{ webhookUrl: "http://hooks.example.com/x", connectionLost: "on", failureRatePercent: "0", pendingOlderThanMinutes: "" },
			`/destinations/${id}/alerts`,
		);
		expect(bad.status).toBe(400);
		const html = await bad.text();
		expect(html).toMatch(/data-error-for="webhookUrl">must use https/);
		expect(html).toMatch(/data-error-for="conditions\.failureRatePercent">must be from 1 to 100/);

		const ok = await form(
			`/destinations/${id}/alerts`,
			{ webhookUrl: "https://hooks.example.com/services/T/B/x", connectionLost: "on", failureRatePercent: "10", pendingOlderThanMinutes: "30" },
			`/destinations/${id}/alerts`,
		);
		expect(ok.status).toBe(303);
		const { html: saved } = await page(`/destinations/${id}/alerts?saved=1`, browser);
		expect(saved).toContain('value="https://hooks.example.com/services/T/B/x"');
		expect(saved).toMatch(/name="connectionLost" checked=""/);
		expect(saved).toContain('value="30"');
	});

	it("marks the set-up checklist done", async () => {
		const { html } = await page(`/destinations/${id}`, browser);
		const done = html.match(/class="step done"/g) ?? [];
		expect(done).toHaveLength(5);
	});

	it("pauses and resumes the destination", async () => {
		const res = await form(`/destinations/${id}`, { name: "EU prospects", description: "Trial users → Outreach" }, `/destinations/${id}`);
		expect(res.status).toBe(303);
		expect(text((await page("/", browser)).html)).toContain("Paused");
		await form(`/destinations/${id}`, { name: "EU prospects", description: "", enabled: "on" }, `/destinations/${id}`);
		expect(text((await page("/", browser)).html)).not.toContain("Paused");
	});

	it("answers a friendly 404 for an unknown destination", async () => {
		const res = await get("/destinations/does-not-exist/activity", browser);
		expect(res.status).toBe(404);
		expect(text(await res.text())).toContain("See all destinations");
	});

	it("deletes the destination only when confirmed", async () => {
		const unconfirmed = await form(`/destinations/${id}/delete`, {}, `/destinations/${id}`);
		expect(unconfirmed.status).toBe(400);
		expect((await ingest(id, ingestToken, profilesArray)).status).toBe(202);
		const res = await form(`/destinations/${id}/delete`, { confirm: "on" }, `/destinations/${id}`);
		expect(res.status).toBe(303);
		expect((await ingest(id, ingestToken, profilesArray)).status).toBe(401);
	});
});
