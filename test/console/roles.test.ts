import { describe, expect, it } from "vitest";
import { adminJson, createDestination, resetOutreach, signIn } from "../helpers/control";
import { createKey } from "../helpers/keys";
import { cookiePair, get, page, post, submit, text, type Browser } from "./helpers";

/**
 * The console with roles (issue 22): token sign-in takes API keys too, shows who is signed in with which role,
 * does not offer what the role may not do — and the server refuses it anyway, changing nothing.
 */

async function signInWith(token: string): Promise<Browser> {
	const res = await post("/signin", { token, next: "/" });
	expect(res.status, await res.clone().text()).toBe(303);
	return { cookie: cookiePair(res) };
}

describe("the console with an API key", () => {
	it("a view key signs in, sees its role, is not offered changes, and a forced change is refused and changes nothing", async () => {
		const d = await createDestination({ name: "Console roles" });
		const viewer = await createKey("view", "Analyst");
		const browser = await signInWith(viewer.key);
		const { html } = await page(`/destinations/${d.id}`, browser);
		expect(text(html)).toContain("API key Analyst · role: view");
		expect(html).toContain('data-role="view"');
		expect(html).toMatch(/data-needs="manage"[^>]*action="\/destinations\/[^"]+\/delete"/);

		const res = await submit(`/destinations/${d.id}`, { name: "Renamed by a viewer", description: "" }, browser, `/destinations/${d.id}`);
		expect(res.status).toBe(403);
		expect(text(await res.text())).toContain("Changing a destination (rename, pause, resume) needs the activate role");
		expect((await adminJson<{ name: string }>(`/api/destinations/${d.id}`)).name).toBe("Console roles");
	});

	it("the audit page names the console's actor; Find a prospect says when nothing is held; Keys is for manage only", async () => {
		const d = await createDestination({ name: "Console audit" });
		const editor = await createKey("activate", "Editor");
		const browser = await signInWith(editor.key);
		const renamed = await submit(`/destinations/${d.id}`, { name: "Renamed in the console", description: "", enabled: "on" }, browser, `/destinations/${d.id}`);
		expect(renamed.status).toBe(303);
		const audit = text((await page(`/audit?destinationId=${d.id}`, browser)).html);
		expect(audit).toContain(`key Editor (${editor.id})`);
		expect(audit).toContain("destination: name 'Console audit' → 'Renamed in the console'");

		const find = text((await page(`/prospects?destinationId=${d.id}&prospectId=777`, browser)).html);
		expect(find).toContain("Nothing is held for prospect 777");

		const keys = await submit("/keys", { name: "sneaky", role: "manage" }, browser, "/audit");
		expect(keys.status).toBe(403);
		expect(text(await keys.text())).toContain("Creating an API key needs the manage role");
		expect(JSON.stringify(await adminJson("/api/keys"))).not.toContain("sneaky");
		const owner = await signInWith((await createKey("manage", "Ops")).key);
		const { html } = await page("/keys", owner);
		expect(text(html)).toContain("Editor");
		expect(html).not.toContain(editor.key);
	});

	it("connecting to Outreach from the console is audited with the person who did it and the Outreach user", async () => {
		await resetOutreach();
		const d = await createDestination({ name: "Console connect" });
		const ops = await createKey("manage", "Ops Connect");
		const browser = await signInWith(ops.key);
		const start = await submit(`/destinations/${d.id}/connect`, {}, browser, `/destinations/${d.id}`);
		expect(start.status).toBe(303);
		const back = new URL(await signIn(start.headers.get("Location")!));
		expect((await get(`${back.pathname}${back.search}`, browser)).status).toBe(302);
		const entries = (await adminJson<{ entries: { actor: string; action: string; summary: string }[] }>(`/api/audit?destinationId=${d.id}`)).entries;
		expect(entries[0]).toMatchObject({ actor: `key Ops Connect (${ops.id})`, action: "GET /oauth/callback", summary: "connection: not connected → Outreach user 1 (rep@example.com)" });
	});

	it("starting a connect from the console needs the manage role too (it is the one form that does not go through the API)", async () => {
		const d = await createDestination({ name: "Console connect refused" });
		const editor = await signInWith((await createKey("activate", "Not a manager")).key);
		const res = await submit(`/destinations/${d.id}/connect`, {}, editor, `/destinations/${d.id}`);
		expect(res.status).toBe(403);
		expect(text(await res.text())).toContain("Connecting to Outreach needs the manage role");
	});
});
