import schema from "./prospect-schema.json" with { type: "json" };

/**
 * Outreach's prospect attribute list (from its own OpenAPI document) — the one source for which targets a
 * mapping may name and for how the local Outreach validates a PATCH.
 */
export type AttributeSpec = {
	type: "string" | "integer" | "number" | "boolean" | "array";
	format?: string;
	maxLength?: number;
	nullable?: boolean;
	readOnly?: boolean;
	items?: { type?: string; format?: string };
	description?: string;
};

export const prospectAttributes: Readonly<Record<string, AttributeSpec>> = schema.prospectAttributes as Record<
	string,
	AttributeSpec
>;

const CUSTOM = /^custom([1-9]\d{0,2})$/;

/** The N of `customN` for N in 1…150, else null. */
export function customFieldNumber(name: string): number | null {
	const m = CUSTOM.exec(name);
	if (!m) return null;
	const n = Number(m[1]);
	return n >= 1 && n <= 150 && Object.hasOwn(prospectAttributes, name) ? n : null;
}

export function isWritableAttribute(name: string): boolean {
	const spec = Object.hasOwn(prospectAttributes, name) ? prospectAttributes[name] : undefined;
	return spec !== undefined && !spec.readOnly;
}

export function isArrayAttribute(name: string): boolean {
	// Own properties only: a target named like an Object.prototype member is not an attribute.
	return Object.hasOwn(prospectAttributes, name) && prospectAttributes[name]!.type === "array";
}

/** Writable attributes an attribute mapping may target: everything writable except `customN` (segments own those). */
export const mappableAttributes: readonly string[] = Object.keys(prospectAttributes)
	.filter((name) => isWritableAttribute(name) && customFieldNumber(name) === null)
	.sort();

/** The custom field a segment's Mapping ID writes. */
export function customField(mappingId: number): string {
	return `custom${mappingId}`;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Why `value` cannot be written to attribute `name` per Outreach's schema, or null when it can.
 * Field rules an administrator adds (picklists…) are checked by the server, not here.
 */
export function attributeValueProblem(name: string, value: unknown): string | null {
	if (!Object.hasOwn(prospectAttributes, name)) return `'${name}' is not a prospect attribute`;
	const spec = prospectAttributes[name]!;
	if (spec.readOnly) return `'${name}' is read-only`;
	if (value === null) return spec.nullable === false ? `'${name}' cannot be null` : null;
	switch (spec.type) {
		case "array":
			if (!Array.isArray(value)) return `'${name}' must be an array of strings`;
			if (spec.items?.type === "string" && !value.every((v) => typeof v === "string"))
				return `'${name}' must be an array of strings`;
			return null;
		case "integer":
			return Number.isInteger(value) ? null : `'${name}' must be an integer`;
		case "number":
			return typeof value === "number" && Number.isFinite(value) ? null : `'${name}' must be a number`;
		case "boolean":
			return typeof value === "boolean" ? null : `'${name}' must be a boolean`;
		case "string": {
			if (typeof value !== "string") return `'${name}' must be a string`;
			if (spec.maxLength !== undefined && value.length > spec.maxLength)
				return `'${name}' is longer than ${spec.maxLength} characters`;
			if (spec.format === "date" && !DATE.test(value)) return `'${name}' must be a date (YYYY-MM-DD)`;
			if (spec.format === "date-time" && Number.isNaN(Date.parse(value)))
				return `'${name}' must be an ISO-8601 date-time`;
			return null;
		}
	}
}
