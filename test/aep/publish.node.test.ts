import { execFile } from "node:child_process";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBodies } from "../../scripts/aep/package.ts";
import { startLocalAep, type LocalAep } from "../../local-aep/server.ts";

const TOKEN = "ims-token-that-must-never-be-printed-0123456789";
const API_KEY = "api-key-never-printed-9876";
const ORG = "ORG123@AdobeOrg";
const SANDBOX = "dev-sandbox";

let aep: LocalAep;
beforeAll(async () => {
	aep = await startLocalAep({ accessToken: TOKEN });
});
afterAll(() => aep.close());

const env = (over: Record<string, string | undefined> = {}) => ({
	PATH: process.env.PATH,
	AEP_ACCESS_TOKEN: TOKEN,
	AEP_API_KEY: API_KEY,
	AEP_ORG_ID: ORG,
	AEP_SANDBOX: SANDBOX,
	AEP_API_BASE: aep.url,
	...over,
});

/** Runs `npm run aep -- …` (asynchronously: the stand-in answers from this process). */
function aepCli(args: string[], vars: Record<string, string | undefined> = env()): Promise<{ code: number; stdout: string; stderr: string }> {
	return new Promise((resolve) => {
		execFile(process.execPath, ["scripts/aep.ts", ...args], { env: vars as NodeJS.ProcessEnv, encoding: "utf8" }, (err, stdout, stderr) =>
			resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
		);
	});
}

async function authoring(path: string, init: RequestInit = {}) {
	return fetch(`${aep.url}/data/core/activation/authoring${path}`, {
		...init,
		headers: { Authorization: `Bearer ${TOKEN}`, "x-api-key": API_KEY, "x-gw-ims-org-id": ORG, "x-sandbox-name": SANDBOX, "Content-Type": "application/json", ...init.headers },
	});
}

const noSecrets = (text: string) => {
	expect(text).not.toContain(TOKEN);
	expect(text).not.toContain(API_KEY);
};

describe("the local AEP authoring stand-in", () => {
	it("refuses a request missing any of AEP's headers", async () => {
		for (const drop of ["Authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name"]) {
			const res = await authoring("/destinations", { headers: { [drop]: "" } });
			expect(res.status, drop).toBe(drop === "Authorization" ? 401 : 403);
		}
	});

	it("refuses a configuration missing a required field, naming it", async () => {
		const { destination } = buildBodies();
		for (const field of ["customerAuthenticationConfigurations", "identityNamespaces", "schemaConfig", "aggregation", "destinationDelivery"]) {
			const body = { ...destination, [field]: undefined };
			const res = await authoring("/destinations", { method: "POST", body: JSON.stringify(body) });
			expect(res.status, field).toBe(400);
			expect(JSON.stringify(await res.json()), field).toContain(field);
		}
		const res = await authoring("/destination-servers", { method: "POST", body: JSON.stringify({ ...buildBodies().destinationServer, httpTemplate: undefined }) });
		expect(res.status).toBe(400);
	});
});

describe("npm run aep -- publish", () => {
	it("creates the server and the configuration, and a second publish updates them and creates nothing", async () => {
		const first = await aepCli(["publish"]);
		expect(first.code, first.stderr).toBe(0);
		const a = JSON.parse(first.stdout.trim().split("\n").at(-1)!);
		expect(a).toMatchObject({ serverAction: "created", destinationAction: "created" });
		const second = await aepCli(["publish"]);
		expect(second.code, second.stderr).toBe(0);
		const b = JSON.parse(second.stdout.trim().split("\n").at(-1)!);
		expect(b).toEqual({ ...a, serverAction: "updated", destinationAction: "updated" });
		const servers = (await (await authoring("/destination-servers")).json()) as { items: unknown[] };
		const destinations = (await (await authoring("/destinations")).json()) as { items: { destinationDelivery: { destinationServerId: string }[] }[] };
		expect(servers.items).toHaveLength(1);
		expect(destinations.items).toHaveLength(1);
		expect(destinations.items[0]!.destinationDelivery[0]!.destinationServerId).toBe(a.destinationServerId);
		noSecrets(first.stdout + first.stderr + second.stdout + second.stderr);
	});

	it("names a missing variable, and prints no secret when AEP refuses the token", async () => {
		const missing = await aepCli(["publish"], env({ AEP_API_KEY: undefined }));
		expect(missing.code).not.toBe(0);
		expect(missing.stderr).toMatch(/AEP_API_KEY is required/);
		const wrong = await aepCli(["publish"], env({ AEP_ACCESS_TOKEN: "wrong-token-also-secret-0000" }));
		expect(wrong.code).not.toBe(0);
		expect(wrong.stderr).toMatch(/AEP answered 401/);
		expect(wrong.stderr).not.toContain("wrong-token-also-secret-0000");
		noSecrets(missing.stdout + missing.stderr + wrong.stdout + wrong.stderr);
	});
});

describe("npm run aep -- test", () => {
	it("sends the rendered body to the instance's ingest URL with the customer's bearer token and reports the calls", async () => {
		const seen: { headers: IncomingHttpHeaders; body: string }[] = [];
		const ingest = createServer((req, res) => {
			let body = "";
			req.on("data", (d) => (body += d));
			req.on("end", () => {
				seen.push({ headers: req.headers, body });
				res.writeHead(202, { "Content-Type": "application/json" }).end('{"accepted":1,"skipped":0,"rejected":[]}');
			});
		});
		await new Promise<void>((r) => ingest.listen(0, "127.0.0.1", r));
		try {
			const published = JSON.parse((await aepCli(["publish"])).stdout.trim().split("\n").at(-1)!);
			const ingestUrl = `http://127.0.0.1:${(ingest.address() as AddressInfo).port}/ingest/dest-1`;
			const reg = await fetch(`${aep.url}/__fake/instances`, {
				method: "POST",
				headers: { "x-gw-ims-org-id": ORG, "x-sandbox-name": SANDBOX, "Content-Type": "application/json" },
				body: JSON.stringify({
					instanceId: "inst-1",
					destinationId: published.destinationId,
					customerData: { ingestUrl },
					bearerToken: "ingest-token-1234567890",
					aliases: { ups: { seg1: "4" } },
					sampleProfiles: [{ identityMap: { OutreachId: [{ id: "42" }] }, attributes: { firstName: { value: "Ana" } }, segmentMembership: { ups: { seg1: { status: "realized", lastQualificationTime: "2026-11-20T10:15:00Z" } } } }],
				}),
			});
			expect(reg.status).toBe(200);
			const run = await aepCli(["test", "--instance", "inst-1"]);
			expect(run.code, run.stderr).toBe(0);
			expect(run.stdout).toMatch(/1 request\(s\) sent to the destination, 0 not answered 2xx/);
			noSecrets(run.stdout + run.stderr);
			expect(seen).toHaveLength(1);
			expect(seen[0]!.headers.authorization).toBe("Bearer ingest-token-1234567890");
			expect(JSON.parse(seen[0]!.body)).toMatchObject({ format: "aep-outreach/1", segmentId: "seg1", alias: "4", status: "realized", profiles: [{ identities: { OutreachId: [{ id: "42" }] } }] });
			const unknown = await aepCli(["test", "--instance", "no-such-instance"]);
			expect(unknown.code).not.toBe(0);
			expect(unknown.stderr).toMatch(/404/);
		} finally {
			await new Promise<void>((r) => ingest.close(() => r()));
		}
	});
});
