import { z } from "zod";

// Field rules are the validations an Outreach administrator puts on a prospect field (a picklist on a custom
// field, a number, a date…). Outreach answers 422 when a PATCH writes a value outside them, and lists them at
// GET /api/v2/types so a client can check its mapping before sending anything.

const regexSource = z.string().refine((source) => {
	try {
		new RegExp(source);
		return true;
	} catch {
		return false;
	}
}, "not a valid regular expression");

export const fieldRuleSchema = z.discriminatedUnion("type", [
	z.strictObject({ type: z.literal("inclusion"), definition: z.array(z.string()).min(1) }),
	z.strictObject({
		type: z.literal("number"),
		definition: z
			.strictObject({ min: z.number().optional(), max: z.number().optional(), integer: z.boolean().optional() })
			.optional(),
	}),
	z.strictObject({ type: z.literal("date") }),
	z.strictObject({ type: z.literal("url") }),
	z.strictObject({ type: z.literal("format"), definition: regexSource }),
]);

export type FieldRule = z.infer<typeof fieldRuleSchema>;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function isCalendarDate(value: string): boolean {
	const m = DATE.exec(value);
	if (!m) return false;
	const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
	return date.toISOString().slice(0, 10) === value;
}

function scalarProblem(name: string, rule: FieldRule, value: unknown): string | null {
	switch (rule.type) {
		case "inclusion":
			return typeof value === "string" && rule.definition.includes(value)
				? null
				: `'${name}' must be one of: ${rule.definition.join(", ")}`;
		case "number": {
			const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
			if (!Number.isFinite(n)) return `'${name}' must be a number`;
			const { min, max, integer } = rule.definition ?? {};
			if (integer && !Number.isInteger(n)) return `'${name}' must be a whole number`;
			if (min !== undefined && n < min) return `'${name}' must be at least ${min}`;
			if (max !== undefined && n > max) return `'${name}' must be at most ${max}`;
			return null;
		}
		case "date":
			return typeof value === "string" && isCalendarDate(value) ? null : `'${name}' must be a date (YYYY-MM-DD)`;
		case "url": {
			const url = typeof value === "string" && URL.canParse(value) ? new URL(value) : null;
			return url && (url.protocol === "http:" || url.protocol === "https:") ? null : `'${name}' must be an http(s) URL`;
		}
		case "format":
			// The administrator's pattern must match the whole value, not just a part of it.
			return typeof value === "string" && new RegExp(`^(?:${rule.definition})$`).test(value)
				? null
				: `'${name}' must match the format ${rule.definition}`;
	}
}

/** Why `value` breaks the field rule on attribute `name`, or null. Null always passes: it clears the field. */
export function ruleProblem(name: string, rule: FieldRule, value: unknown): string | null {
	if (value === null) return null;
	if (Array.isArray(value)) {
		for (const item of value) {
			const problem = scalarProblem(name, rule, item);
			if (problem) return problem;
		}
		return null;
	}
	return scalarProblem(name, rule, value);
}

/**
 * The field rules as GET /api/v2/types lists them: one JSON:API resource of type "type" per validated field,
 * its id and name the prospect attribute, its validation exactly the rule given to /__fake/reset:
 *   {"data":[{"type":"type","id":"custom4","attributes":{"name":"custom4","resource":"prospect",
 *     "validation":{"type":"inclusion","definition":["Active","Expired"]}}}],"meta":{"count":1}}
 */
export function typesDocument(rules: Readonly<Record<string, FieldRule>>) {
	const data = Object.entries(rules)
		.sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
		.map(([name, rule]) => ({ type: "type", id: name, attributes: { name, resource: "prospect", validation: rule } }));
	return { data, meta: { count: data.length } };
}
