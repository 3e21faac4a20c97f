// Every field value the local Outreach applies to a prospect, in the order applied, so tests and the benchmark
// can audit the order in which values actually landed (an older value written over a newer one is visible
// here even when the final state looks right). A benchmark run appends hundreds of thousands of entries and
// polls with `since`, so appending is O(1) and reading from `since` is a binary search, not a scan.

export type Write = {
	/** When it was applied, epoch ms; never less than the entry before it. */
	at: number;
	prospectId: number;
	field: string;
	value: unknown;
	via: "patch" | "bulk" | "import";
	/** The batch (via bulk) or import (via import) that applied it. */
	batchId?: number;
	importId?: number;
};

export class WriteLog {
	#entries: Write[] = [];

	/** Records one applied field value. `at` is clamped to the last entry's so the log stays sorted by time
	 * even if the system clock steps back, which the binary search in `since` relies on. */
	append(write: Omit<Write, "at">, now: number): void {
		const last = this.#entries.at(-1);
		this.#entries.push({ at: last && last.at > now ? last.at : now, ...write });
	}

	/** The entries applied at or after `since` (epoch ms), oldest first. */
	since(since: number): Write[] {
		let low = 0;
		let high = this.#entries.length;
		while (low < high) {
			const mid = (low + high) >>> 1;
			if (this.#entries[mid]!.at < since) low = mid + 1;
			else high = mid;
		}
		return low === 0 ? this.#entries.slice() : this.#entries.slice(low);
	}

	/** Entries `offset`… (at most `limit`), by position in the log: a reader pages through millions without one huge answer. */
	page(offset: number, limit: number): { writes: Write[]; next: number | null } {
		const writes = this.#entries.slice(offset, offset + limit);
		return { writes, next: offset + writes.length < this.#entries.length ? offset + writes.length : null };
	}

	get size(): number {
		return this.#entries.length;
	}
}
