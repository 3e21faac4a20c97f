import { ApiError } from "../platform/errors";

/**
 * Reading an ingest body: at most INGEST_MAX_BYTES of it, split into profiles — one JSON object, a JSON array,
 * or NDJSON. A broken element is a reject with its index, not a refusal of the whole body.
 */

/** One element of the body: a parsed profile, or why it could not be read. */
type Entry = { index: number; value?: unknown; error?: string };

const SHAPES = "Send one AEP profile (a JSON object), a JSON array of profiles, or NDJSON (one profile per line).";

/** Splits a body into profiles: one object, a JSON array, or NDJSON (blank lines ignored); a string says why not. */
export function parseBody(text: string): Entry[] | string {
	const trimmed = text.trim();
	if (!trimmed) return `The body is empty. ${SHAPES}`;
	try {
		const value: unknown = JSON.parse(trimmed);
		if (Array.isArray(value)) return value.map((v, index) => ({ index, value: v }));
		if (value !== null && typeof value === "object") return [{ index: 0, value }];
		return `The body is JSON but neither a profile object nor an array of profiles. ${SHAPES}`;
	} catch {
		/* not one JSON document: try NDJSON */
	}
	const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== "");
	if (lines.length < 2) return `The body is not valid JSON. ${SHAPES}`;
	const entries = lines.map((line, index): Entry => {
		try {
			return { index, value: JSON.parse(line) };
		} catch {
			return { index, error: `NDJSON line ${index + 1} is not valid JSON` };
		}
	});
	if (entries.every((e) => e.error)) return `The body is neither JSON nor NDJSON: no line is valid JSON. ${SHAPES}`;
	return entries;
}

/** A byte count in the largest binary unit it fills: 262144 → "256 KiB", 1572864 → "1.5 MiB". */
function inUnits(bytes: number): string {
	const [size, unit] = bytes >= 1024 * 1024 ? [bytes / (1024 * 1024), "MiB"] : bytes >= 1024 ? [bytes / 1024, "KiB"] : [bytes, "bytes"];
	return `${Math.round(size * 100) / 100} ${unit}`;
}

/** Reads the body, refusing (413) as soon as it passes `max` bytes. */
export async function readLimited(req: Request, max: number): Promise<Uint8Array> {
	const declared = Number(req.headers.get("Content-Length") ?? NaN);
	const tooLarge = () =>
		new ApiError(
			"payload_too_large",
			`The body is larger than ${max} bytes (${inUnits(max)}, INGEST_MAX_BYTES), the most this destination reads in one request. Send fewer profiles per request (AEP's HTTP API destination sends at most 10; the Outreach package's configurable aggregation at least 1,000, about 370 KB).`,
		);
	if (declared > max) throw tooLarge();
	if (!req.body) return new Uint8Array();
	const reader = req.body.getReader();
	const chunks: Uint8Array[] = [];
	let total = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		total += value.byteLength;
		if (total > max) {
			await reader.cancel();
			throw tooLarge();
		}
		chunks.push(value);
	}
	const bytes = new Uint8Array(total);
	let at = 0;
	for (const c of chunks) {
		bytes.set(c, at);
		at += c.byteLength;
	}
	return bytes;
}
