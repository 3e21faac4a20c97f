import { Hono, type Context } from "hono";
import { bearerToken } from "./auth";
import { config } from "./config";
import { sha256Hex, timingSafeEqualString } from "./crypto";
import { MESSAGE_BYTES, updateBytes } from "./queue";
import { destinationStore } from "./destinations";
import { capMessage } from "./echo";
import { ApiError } from "./errors";
import { ledgerStub, type Receipt } from "./ledger/ledger";
import type { IngestAnswer } from "./ledger/requests";
import { log } from "./log";
import { count } from "./metrics";
import { mapProfile } from "./updates";

function executionCtx(c: Context) {
	try {
		return c.executionCtx;
	} catch {
		return undefined; // in-process calls (tests) have none
	}
}

/**
 * POST /ingest/:destinationId — AEP's HTTP API destination posts profiles here. The request validates and
 * maps each profile and records one receipt in the destination's ledger — the commit point: from there the
 * ledger hands the updates to the queue, however this request ends — and answers 202, well within AEP's
 * 2-second deadline, whatever Outreach's budget is doing. A retry of a request AEP gave up on is answered with
 * the first copy's counts and creates nothing (src/ledger/requests.ts).
 */
export const ingestApp = new Hono<{ Bindings: Env }>();

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

const UNAUTHORIZED = "Unknown destination or wrong ingest token. Use the ingest URL and bearer token shown on the destination's Set up AEP page.";

/** A byte count in the largest binary unit it fills: 262144 → "256 KiB", 1572864 → "1.5 MiB". */
function inUnits(bytes: number): string {
	const [size, unit] = bytes >= 1024 * 1024 ? [bytes / (1024 * 1024), "MiB"] : bytes >= 1024 ? [bytes / 1024, "KiB"] : [bytes, "bytes"];
	return `${Math.round(size * 100) / 100} ${unit}`;
}

/** Reads the body, refusing (413) as soon as it passes `max` bytes. */
async function readLimited(req: Request, max: number): Promise<Uint8Array> {
	const declared = Number(req.headers.get("Content-Length") ?? NaN);
	const tooLarge = () =>
		new ApiError(
			"payload_too_large",
			`The body is larger than ${max} bytes (${inUnits(max)}, INGEST_MAX_BYTES), the most this destination reads in one request. Send fewer profiles per request (AEP sends at most 10).`,
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

async function bodyHash(bytes: Uint8Array): Promise<string> {
	const digest = await crypto.subtle.digest("SHA-256", bytes);
	return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

ingestApp.post("/:destinationId", async (c) => {
	const started = Date.now();
	const destinationId = c.req.param("destinationId");
	const store = destinationStore(c.env);
	const presented = bearerToken(c.req.header("Authorization")) ?? "";
	const [destination, presentedHash] = await Promise.all([
		destinationId.length <= 64 ? store.get(destinationId) : Promise.resolve(null),
		sha256Hex(presented),
	]);
	// Unknown destination and wrong token get the same answer, after the same comparison.
	const ok = await timingSafeEqualString(presentedHash, destination?.ingestTokenHash ?? "0".repeat(64));
	if (!destination || !presented || !ok) {
		// The commonest reason a destination receives nothing; the token itself is never logged.
		log("warn", "ingest_unauthorized", { destinationId, known: destination !== null, tokenPresent: presented !== "" });
		throw new ApiError("unauthorized", UNAUTHORIZED);
	}

	const bytes = await readLimited(c.req.raw, config(c.env).INGEST_MAX_BYTES);
	const entries = parseBody(new TextDecoder().decode(bytes));
	if (typeof entries === "string") throw new ApiError("bad_request", entries);

	const mapping = await store.getMapping(destinationId);
	const requestId = crypto.randomUUID();
	const receipt: Receipt = { destinationId, requestId, at: started, bodyHash: await bodyHash(bytes), accepted: [], rejected: [], skipped: 0 };
	for (const entry of entries) {
		if (entry.error !== undefined) {
			receipt.rejected.push({ index: entry.index, error: entry.error, segments: [] });
			continue;
		}
		if (!mapping) {
			receipt.skipped++;
			continue;
		}
		const mapped = mapProfile(entry.value, mapping, { id: `${requestId}:${entry.index}`, observedAt: started, seq: entry.index });
		if (mapped.kind === "skipped") receipt.skipped++;
		else if (mapped.kind === "rejected") receipt.rejected.push({ index: entry.index, error: capMessage(mapped.error, 500), segments: mapped.segments });
		else if (updateBytes(mapped.update) > MESSAGE_BYTES)
			receipt.rejected.push({ index: entry.index, error: "the mapped field values are larger than 120 KB", segments: mapped.segments });
		else receipt.accepted.push({ update: mapped.update, segments: mapped.segments, source: mapped.source });
	}

	count("profilesReceived", entries.length);
	const ledger = ledgerStub(c.env, destinationId);
	count("ledgerCalls");
	let answer: IngestAnswer;
	let retryOf: string | undefined;
	try {
		({ answer, retryOf } = await ledger.receive(receipt));
	} catch (err) {
		// The receipt may or may not have been committed: AEP's retry of this very body tells (it is answered
		// with this copy's counts if the receipt exists, and recorded anew if not).
		log("error", "ingest_receipt_failed", { requestId, destinationId, error: err instanceof Error ? err.name : "Error" });
		throw new ApiError("unavailable", "The destination could not record the profiles right now. Retry the request; nothing is recorded twice.");
	}
	if (retryOf) {
		log("info", "ingest_retry_recognised", { requestId, destinationId, firstRequestId: retryOf });
		return c.json(answer, 202);
	}
	// Marks the request answered, so an identical body from now on is a new delivery and not AEP's retry.
	executionCtx(c)?.waitUntil(ledger.answered(requestId, Date.now()).catch(() => {}));
	const summary = { requestId, destinationId, accepted: answer.accepted, skipped: answer.skipped, rejected: answer.rejected.length, bytes: bytes.byteLength, durationMs: Date.now() - started };
	log("info", "ingest_accepted", summary);
	if (receipt.rejected.length) log("warn", "ingest_rejected", { requestId, destinationId, rejected: receipt.rejected.length, indexes: receipt.rejected.slice(0, 20).map((r) => r.index) });
	return c.json(answer, 202);
});
