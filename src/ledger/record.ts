import { destinationStore, DestinationRecord, keys } from "../destinations/records";
import { log } from "../platform/log";
import { nextRevisions, StoredMapping, type Mapping } from "../destinations/mapping";

/**
 * The destination's record and mapping, with their one writer: the destination's ledger (design: "One writer
 * for each record"). KV is their read cache: every change is mirrored to `destination:<id>` and
 * `mapping:<id>`, and a mirror write that fails is retried from the ledger's alarm until it sticks. Because
 * the authority reads its own storage, a rotated ingest token never comes back and a paused destination never
 * re-enables itself, however stale KV is where a change is made.
 *
 * A destination created before this authority existed is adopted from KV on its first change.
 */
export class DestinationAuthority {
	constructor(
		private readonly storage: DurableObjectStorage,
		private readonly env: Env,
		private readonly onMirrorFailed: () => void,
	) {}

	private stored(): DestinationRecord | null {
		const raw = this.storage.kv.get("destination");
		const parsed = raw === undefined ? null : DestinationRecord.safeParse(raw);
		return parsed?.success ? parsed.data : null;
	}

	/** The record, adopting it from KV when this ledger has none yet (a destination older than this authority). */
	async get(destinationId: string): Promise<DestinationRecord | null> {
		const own = this.stored();
		if (own) return own;
		if (this.storage.kv.get("destination.erased")) return null;
		const fromKv = await destinationStore(this.env).getFresh(destinationId);
		if (!fromKv || this.stored()) return this.stored();
		this.storage.kv.put("destination", fromKv);
		return fromKv;
	}

	/** The record as it is now, when this ledger already holds it (no adoption, no await). */
	current(): DestinationRecord | null {
		return this.stored();
	}

	async create(record: DestinationRecord): Promise<DestinationRecord> {
		this.storage.kv.put("destination", record);
		this.storage.kv.delete("destination.erased");
		await this.mirror(record.id);
		return record;
	}

	/** Applies `change` to the current record (read here, the authority, never from KV) and mirrors it. */
	async update(destinationId: string, change: (r: DestinationRecord) => DestinationRecord): Promise<DestinationRecord | null> {
		const current = await this.get(destinationId);
		if (!current) return null;
		const next = change(current);
		this.storage.kv.put("destination", next);
		await this.mirror(destinationId);
		return next;
	}

	async mapping(destinationId: string): Promise<StoredMapping | null> {
		const own = this.storage.kv.get("mapping");
		if (own !== undefined) {
			const parsed = StoredMapping.safeParse(own);
			return parsed.success ? parsed.data : null;
		}
		const fromKv = await destinationStore(this.env).getMapping(destinationId);
		if (fromKv && this.storage.kv.get("mapping") === undefined) this.storage.kv.put("mapping", fromKv);
		return fromKv;
	}

	/** Stores a new mapping with its fields' revisions; answers it and the fields whose source changed. */
	async putMapping(destinationId: string, mapping: Mapping): Promise<{ stored: StoredMapping; changed: string[] }> {
		const previous = await this.mapping(destinationId);
		const { revisions, changed } = nextRevisions(previous, mapping);
		const stored: StoredMapping = { ...mapping, revisions };
		this.storage.kv.put("mapping", stored);
		await this.mirror(destinationId);
		return { stored, changed };
	}

	/** Forgets everything (the destination is deleted); a late adoption from a stale KV copy is refused. */
	erase(): void {
		this.storage.kv.delete("destination");
		this.storage.kv.delete("mapping");
		this.storage.kv.put("destination.erased", true);
	}

	/** Whether a mirror write is still to be retried. */
	mirrorPending(): boolean {
		return this.storage.kv.get("destination.mirrorPending") === true;
	}

	/**
	 * Writes the record and mapping as they are now to KV. Read at write time, so whatever order two writes
	 * finish in, the later one carries the latest state. On failure the alarm writes again.
	 */
	async mirror(destinationId: string): Promise<void> {
		const store = destinationStore(this.env);
		const record = this.stored();
		const mapping = this.storage.kv.get("mapping");
		try {
			if (record) await store.put(record);
			if (mapping !== undefined) {
				const parsed = StoredMapping.safeParse(mapping);
				if (parsed.success) await store.putMapping(destinationId, parsed.data);
			}
			this.storage.kv.delete("destination.mirrorPending");
		} catch (err) {
			log("error", "destination_mirror_failed", { destinationId, keys: [keys.destination(destinationId), keys.mapping(destinationId)], error: err instanceof Error ? err.name : "Error" });
			this.storage.kv.put("destination.mirrorPending", true);
			this.onMirrorFailed();
		}
	}
}
