import { Hono, type Context } from "hono";
import { bearerToken } from "../http/bearer";
import { clientKey, tooManyWrongTokens, WRONG_TOKEN_PERIOD_SECONDS } from "../http/wrong-tokens";
import { config } from "../platform/config";
import { sha256Hex, timingSafeEqualString } from "../platform/crypto";
import { MESSAGE_BYTES, updateBytes } from "../delivery/message";
import { destinationStore } from "../destinations/records";
import { capMessage } from "../platform/echo";
import { ApiError } from "../platform/errors";
import { parseBody, readLimited } from "./body";
import { ledgerStub, type Receipt } from "../ledger/ledger";
import type { IngestAnswer } from "../ledger/requests";
import { log } from "../platform/log";
import { count } from "../platform/metrics";
import { mapProfile, type Mapped } from "../updates/update";
import { isSdkBody, mapSdkProfile, readSdkBody, type SdkRequest } from "./sdk";

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

const UNAUTHORIZED = "Unknown destination or wrong ingest token. Use the ingest URL and bearer token shown on the destination's Set up AEP page.";

/**
 * The ingest token: `Authorization: Bearer <token>`, or the bare token as the whole Authorization value. AEP's
 * docs do not say how a Destination SDK destination with BEARER customer authentication places the token, so
 * both readings are accepted (README "Connect from AEP"); either way it is compared in constant time.
 */
function ingestToken(header: string | undefined): string {
	const bearer = bearerToken(header);
	if (bearer) return bearer;
	const bare = (header ?? "").trim();
	return /^[A-Za-z0-9._~+/=-]{16,512}$/.test(bare) ? bare : "";
}

async function bodyHash(bytes: Uint8Array): Promise<string> {
	const digest = await crypto.subtle.digest("SHA-256", bytes);
	return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

ingestApp.post("/:destinationId", async (c) => {
	const started = Date.now();
	const destinationId = c.req.param("destinationId");
	const store = destinationStore(c.env);
	const presented = ingestToken(c.req.header("Authorization"));
	const [destination, presentedHash] = await Promise.all([
		destinationId.length <= 64 ? store.get(destinationId) : Promise.resolve(null),
		sha256Hex(presented),
	]);
	// Unknown destination and wrong token get the same answer, after the same comparison.
	const ok = await timingSafeEqualString(presentedHash, destination?.ingestTokenHash ?? "0".repeat(64));
	if (!destination || !presented || !ok) {
		// The commonest reason a destination receives nothing; the token itself is never logged.
		log("warn", "ingest_unauthorized", { destinationId, known: destination !== null, tokenPresent: presented !== "" });
		// Guesses are counted across isolates; the right token is never counted (it was checked first).
		if (presented && (await tooManyWrongTokens(c.env.INGEST_WRONG_TOKENS, `ingest:${clientKey(c.req.raw.headers)}`))) {
			c.header("Retry-After", String(WRONG_TOKEN_PERIOD_SECONDS));
			throw new ApiError("too_many_requests", `Too many wrong ingest tokens from this address. Wait a minute, then check the bearer token on the destination's Set up AEP page; the right token still works.`);
		}
		throw new ApiError("unauthorized", UNAUTHORIZED);
	}

	const bytes = await readLimited(c.req.raw, config(c.env).INGEST_MAX_BYTES);
	let entries = parseBody(new TextDecoder().decode(bytes));
	if (typeof entries === "string") throw new ApiError("bad_request", entries);
	// The Destination SDK package's body (src/ingest/sdk.ts): one object carrying its own Mapping IDs.
	let sdk: SdkRequest | undefined;
	if (entries.length === 1 && isSdkBody(entries[0]!.value)) {
		const read = readSdkBody(entries[0]!.value);
		if (typeof read === "string") throw new ApiError("bad_request", read);
		sdk = read;
		entries = read.profiles.map((value, index) => ({ index, value }));
	}

	const mapping = await store.getMapping(destinationId);
	const requestId = crypto.randomUUID();
	const receipt: Receipt = { destinationId, requestId, at: started, bodyHash: await bodyHash(bytes), accepted: [], rejected: [], skipped: 0 };
	if (sdk) receipt.aepAudiences = sdk.audiences;
	for (const entry of entries) {
		if (entry.error !== undefined) {
			receipt.rejected.push({ index: entry.index, error: entry.error, segments: [] });
			continue;
		}
		const ids = { id: `${requestId}:${entry.index}`, observedAt: started, seq: entry.index };
		let mapped: Mapped;
		if (sdk) mapped = mapSdkProfile(sdk, entry.value, mapping, ids);
		else if (!mapping) {
			receipt.skipped++;
			continue;
		} else mapped = mapProfile(entry.value, mapping, ids);
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
