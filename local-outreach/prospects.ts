import { z } from "zod";
import type { ApiError } from "./errors.ts";
import { ruleProblem, type FieldRule } from "./rules.ts";
import { attributeValueProblem } from "./schema.ts";
import type { Attributes } from "./state.ts";

// A PATCH /prospects/:id document, judged as Outreach judges it: a malformed document is a 400, while a
// well-formed one with a bad `type`, `id` or attribute value is a 422 naming the offending member by its
// JSON pointer, so a client can drop that one field and send the rest.

const documentSchema = z.object({
	data: z.looseObject({
		type: z.unknown().optional(),
		id: z.unknown().optional(),
		attributes: z.record(z.string(), z.unknown()).optional(),
	}),
});

export type PatchVerdict =
	| { ok: true; attributes: Attributes }
	| { ok: false; status: 400 | 422; errors: ApiError[] };

function validationError(pointer: string, detail: string): ApiError {
	return { id: "validationError", title: "Validation Error", detail, source: { pointer } };
}

function idMatches(id: unknown, urlId: number): boolean {
	if (typeof id === "number") return id === urlId;
	return typeof id === "string" && /^\d+$/.test(id) && Number(id) === urlId;
}

/** Judges a parsed PATCH body for prospect `urlId` against Outreach's attribute list and the field rules. */
export function judgePatch(body: unknown, urlId: number, rules: Readonly<Record<string, FieldRule>>): PatchVerdict {
	const parsed = documentSchema.safeParse(body);
	if (!parsed.success) {
		const errors = parsed.error.issues.map((issue) => ({
			id: "badRequest",
			title: "Bad Request",
			detail: `Malformed JSON:API document: ${issue.message}`,
			source: { pointer: issue.path.map((part) => `/${String(part)}`).join("") },
		}));
		return { ok: false, status: 400, errors };
	}
	const { type, id, attributes = {} } = parsed.data.data;
	const errors: ApiError[] = [];
	if (type !== "prospect") errors.push(validationError("/data/type", `'type' must be 'prospect' (got ${JSON.stringify(type) ?? "nothing"}).`));
	if (!idMatches(id, urlId)) errors.push(validationError("/data/id", `'id' must be ${urlId}, the prospect in the URL (got ${JSON.stringify(id) ?? "nothing"}).`));
	for (const [name, value] of Object.entries(attributes)) {
		const rule = Object.hasOwn(rules, name) ? rules[name] : undefined;
		const problem = attributeValueProblem(name, value) ?? (rule ? ruleProblem(name, rule, value) : null);
		if (problem) errors.push(validationError(`/data/attributes/${name}`, `${problem}.`));
	}
	return errors.length ? { ok: false, status: 422, errors } : { ok: true, attributes };
}
