import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { template } from "../../scripts/aep/package.ts";
import { aggregatedContext, renderPebble } from "../../scripts/aep/render.ts";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/aep/${name}`, import.meta.url), "utf8");
const SEG_REALIZED = "8d3c5f1e-6b1a-4c1e-9a57-2f4a0c7e1b10";
const SEG_EXITED = "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

function render(args: string[]): string {
	return execFileSync(process.execPath, ["scripts/aep.ts", "render", ...args], { encoding: "utf8" });
}

describe("npm run aep -- render", () => {
	// The Worker test test/ingest/aep-package.test.ts posts these very files: together they are render → ingest.
	it("prints, for realized and for exited, exactly the bodies the ingest landing test posts", () => {
		const profiles = "test/fixtures/aep/sample-profiles.json";
		expect(render(["--profiles", profiles, "--segment", SEG_REALIZED, "--status", "realized", "--alias", "4"])).toBe(fixture("rendered-realized.json"));
		expect(render(["--profiles", profiles, "--segment", SEG_EXITED, "--status", "exited", "--alias", "7"])).toBe(fixture("rendered-exited.json"));
	});

	it("renders every tricky string as valid JSON that reads back byte-for-byte", () => {
		const nasty = ['"', "\\", "\n", "\r", "\t", "\u0000", "\u001f", "\u2028", "ação", "🚀", "</script>", "{{ x }}", "{% if %}", "\\u0041"].join("|");
		const profiles = [{ identityMap: { OutreachId: [{ id: "1" }] }, attributes: { firstName: { value: nasty } }, segmentMembership: {} }];
		const out = renderPebble(template("configurable"), aggregatedContext(profiles, { segmentId: "s", status: "realized", alias: "3" }));
		const body = JSON.parse(out) as { alias: string; status: string; profiles: { attributes: { firstName: { value: string } } }[] };
		expect(body.profiles[0]!.attributes.firstName.value).toBe(nasty);
		expect([body.alias, body.status]).toEqual(["3", "realized"]);
	});

	it("names the missing argument", () => {
		expect(() => execFileSync(process.execPath, ["scripts/aep.ts", "render", "--segment", "s"], { encoding: "utf8", stdio: "pipe" })).toThrow(/--profiles FILE is required/);
	});
});

describe("the best-effort template", () => {
	const profile = (id: string) => ({
		identityMap: { OutreachId: [{ id }] },
		attributes: { firstName: { value: `n${id}` } },
		segmentMembership: { ups: { a: { status: "realized" } }, custom_ns: { b: { status: "exited", lastQualificationTime: "2026-01-01T00:00:00Z" } } },
	});
	const destination = { namespaceSegmentAliases: { ups: { a: "4" }, custom_ns: { b: "9" } } };

	it("sends several profiles from input.profiles with every audience namespace", () => {
		const body = JSON.parse(renderPebble(template("best-effort"), { input: { profiles: [profile("1"), profile("2")] }, destination }));
		expect(body.profiles.map((p: { identities: { OutreachId: { id: string }[] } }) => p.identities.OutreachId[0]!.id)).toEqual(["1", "2"]);
		expect(body.aliases).toEqual(destination.namespaceSegmentAliases);
		expect(Object.keys(body.profiles[0].segments)).toEqual(["ups", "custom_ns"]);
	});

	it("sends AEP's single input.profile as a list of one", () => {
		const body = JSON.parse(renderPebble(template("best-effort"), { input: { profile: profile("7") }, destination }));
		expect(body.profiles).toHaveLength(1);
		expect(body.profiles[0].identities.OutreachId[0].id).toBe("7");
	});
});

/**
 * The Pebble constructs Adobe's documented templates use (reference/aep.md §Destination SDK), rendered as Pebble
 * renders them. The reference names Adobe's input → template → result triples (message-format.md) but does not
 * reproduce them, so this checks each construct with the result Pebble's semantics give; our own template uses
 * only `for` over lists, `loop.last`, `if … is null` and `| raw` of maps.
 */
describe("Pebble constructs on nunjucks", () => {
	const input = {
		profile: {
			identityMap: { email: [{ id: "a@example.com" }, { id: "b@example.com" }] },
			attributes: { firstName: { value: "Ana" }, lastName: {} },
			segmentMembership: { ups: { s1: { status: "realized" }, s2: { status: "exited" }, s3: { status: "existing" } } },
		},
	};
	const cases: [string, string, string][] = [
		["comments render nothing", "a{# hidden #}b", "ab"],
		["loop.last separates a list", "{% for i in input.profile.identityMap.email %}{{ i.id }}{% if not loop.last %},{% endif %}{% endfor %}", "a@example.com,b@example.com"],
		["is empty on an absent attribute ({})", "{% if input.profile.attributes.lastName is empty %}none{% endif %}", "none"],
		["is not empty on a present attribute", "{% if input.profile.attributes.firstName is not empty %}{{ input.profile.attributes.firstName.value }}{% endif %}", "Ana"],
		["is null on a missing value", "{% if input.nothing is null %}null{% endif %}", "null"],
		["for over a map yields entries with key and value", "{% for ns in input.profile.identityMap %}{{ ns.key }}={{ ns.value | length }}{% endfor %}", "email=2"],
		["| added yields realized and existing entries", "{% for s in input.profile.segmentMembership.ups | added %}{{ s.key }}{% endfor %}", "s1s3"],
		["removedSegments yields exited entries", "{% for s in removedSegments(input.profile.segmentMembership.ups) %}{{ s.key }}{% endfor %}", "s2"],
		["| raw prints a map as JSON", "{{ input.profile.attributes | raw }}", '{"firstName":{"value":"Ana"},"lastName":{}}'],
		["set binds a value", "{% set who = input.profile.attributes.firstName.value %}{{ who }}", "Ana"],
		["autoescape is off", "{{ '<&\"' }}", '<&"'],
	];
	for (const [name, tpl, expected] of cases) it(name, () => expect(renderPebble(tpl, { input })).toBe(expected));
});
