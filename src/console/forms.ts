import { z } from "zod";
import type { Problem } from "../api/client";

/**
 * The console's form inputs, parsed with zod. They only check the shape of what a form sends; the rules
 * (lengths, Mapping IDs, URLs…) are the admin API's, and its 400 answers are shown beside the fields.
 */

type FormBody = Record<string, string | File | (string | File)[]>;

const text = z.preprocess((v) => (typeof v === "string" ? v : ""), z.string());
const optionalText = z.preprocess((v) => (typeof v === "string" ? v : undefined), z.string().optional());
const checkbox = z.preprocess((v) => v === "on" || v === "1" || v === "true", z.boolean());

export const SignInForm = z.object({ token: text.pipe(z.string().trim()), next: optionalText });

/** A `next` path to return to after sign-in: same-origin paths only, never an open redirect. */
export function safeNext(next: string | undefined): string {
	// Browsers drop tabs and newlines and read "\\" as "/" in URLs, so "/\t/evil.example" would leave the site.
	if (!next || /[\u0000-\u001f\u007f\\]/.test(next)) return "/";
	const base = "https://console.invalid";
	const url = new URL(next, base);
	if (url.origin !== base || !next.startsWith("/") || next.startsWith("//")) return "/";
	// Judge the path the Location header will carry, after normalisation: "/.//evil.example" and
	// "/%2e%2e//evil.example" look local but become "//evil.example", which a browser reads as another site.
	const path = url.pathname + url.search + url.hash;
	if (/^\/[/\\]/.test(path) || new URL(path, base).origin !== base) return "/";
	return path;
}

export const DestinationForm = z.object({ name: text.pipe(z.string().trim()), description: text.pipe(z.string().trim()), enabled: checkbox, bulkApi: checkbox });
export const CreateDestinationForm = DestinationForm.omit({ enabled: true, bulkApi: true });
export const DeleteForm = z.object({ confirm: checkbox });

export const ReplayForm = z.object({ id: optionalText });

export const AlertsForm = z.object({
	webhookUrl: text.pipe(z.string().trim()),
	connectionLost: checkbox,
	failureRatePercent: text.pipe(z.string().trim()),
	pendingOlderThanMinutes: text.pipe(z.string().trim()),
});

/** A number typed in a form, or the raw text when it is not one (so the API's message explains it). */
function numberOrText(value: string): number | string | null {
	if (value === "") return null;
	return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
}

export function alertsBody(form: z.infer<typeof AlertsForm>) {
	return {
		webhookUrl: form.webhookUrl === "" ? null : form.webhookUrl,
		conditions: {
			connectionLost: form.connectionLost,
			failureRatePercent: numberOrText(form.failureRatePercent),
			pendingOlderThanMinutes: numberOrText(form.pendingOlderThanMinutes),
		},
	};
}

// ─── Mapping ───────────────────────────────────────────────────────────────────────────────────────────

export type AttributeRow = { source: string; target: string };
export type SegmentRow = { segmentId: string; name: string; mappingId: string };
/** The mapping as the form holds it: every value a string, rows in the order shown. */
export type MappingDraft = {
	identityNamespace: string;
	attributes: AttributeRow[];
	segments: SegmentRow[];
	statusValues: { realized: string; existing: string; exited: string };
};

const Row = z.record(z.string(), z.string());

/** Rows named `<kind>.<i>.<field>`, in index order, blank rows dropped (so indices match what the API sees). */
function rows(body: FormBody, kind: string, fields: string[]): Record<string, string>[] {
	const byIndex = new Map<number, Record<string, string>>();
	const re = new RegExp(`^${kind}\\.(\\d{1,4})\\.(${fields.join("|")})$`);
	for (const [key, value] of Object.entries(body)) {
		const m = re.exec(key);
		if (!m || typeof value !== "string") continue;
		const i = Number(m[1]);
		const row = byIndex.get(i) ?? {};
		row[m[2]!] = value.trim();
		byIndex.set(i, row);
	}
	return [...byIndex.entries()]
		.sort(([a], [b]) => a - b)
		.map(([, r]) => Row.parse(r))
		.filter((r) => fields.some((f) => (r[f] ?? "") !== ""));
}

export function mappingDraftFromForm(body: FormBody): MappingDraft {
	const get = (k: string) => (typeof body[k] === "string" ? (body[k] as string).trim() : "");
	return {
		identityNamespace: get("identityNamespace"),
		attributes: rows(body, "attributes", ["source", "target"]).map((r) => ({ source: r.source ?? "", target: r.target ?? "" })),
		segments: rows(body, "segments", ["segmentId", "name", "mappingId"]).map((r) => ({
			segmentId: r.segmentId ?? "",
			name: r.name ?? "",
			mappingId: r.mappingId ?? "",
		})),
		statusValues: { realized: get("statusValues.realized"), existing: get("statusValues.existing"), exited: get("statusValues.exited") },
	};
}

/** The API body for a draft: numbers where numbers are typed, optional parts left out when empty. */
export function mappingBody(d: MappingDraft) {
	const statusValues = Object.fromEntries(Object.entries(d.statusValues).filter(([, v]) => v !== ""));
	return {
		identityNamespace: d.identityNamespace,
		attributes: d.attributes,
		segments: d.segments.map((s) => ({
			segmentId: s.segmentId,
			mappingId: numberOrText(s.mappingId) ?? "",
			...(s.name ? { name: s.name } : {}),
		})),
		...(Object.keys(statusValues).length ? { statusValues } : {}),
	};
}

export const emptyDraft: MappingDraft = {
	identityNamespace: "",
	attributes: [],
	segments: [],
	statusValues: { realized: "", existing: "", exited: "" },
};

/** Zod's issues for a console form, in the API's `{path, message}` form. */
export function formProblems(error: z.ZodError): Problem[] {
	return error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}
