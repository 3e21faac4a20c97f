import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../platform/errors";

/**
 * The largest request body the admin API reads: 1 MB, far above any real mapping (at most 64 KB) or replay
 * list, so a request cannot make the Worker buffer an unbounded body. A declared Content-Length over it is
 * refused before reading; a streamed body is counted as it arrives. (Ingest has its own INGEST_MAX_BYTES.)
 */
export const ADMIN_MAX_BODY_BYTES = 1024 * 1024;

export const adminBodyLimit = bodyLimit({
	maxSize: ADMIN_MAX_BODY_BYTES,
	onError: () => {
		throw new ApiError("payload_too_large", "The request body is larger than 1 MB (1,048,576 bytes), the admin API's limit. Send a smaller body.");
	},
});
