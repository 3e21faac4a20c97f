/**
 * A bounded in-memory map for per-isolate caches and counters: at most `capacity` entries, and when a new
 * key would pass that, the least recently used entry is forgotten. Keys often come from requests (a
 * destination id, a client address), so an unbounded Map would let callers grow a Worker's memory at will.
 * Each isolate has its own: nothing here is shared across Cloudflare locations or Worker instances.
 */
export class LruCache<K, V> {
	// A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
	private readonly entries = new Map<K, V>();

	constructor(readonly capacity: number) {
		if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer (got ${capacity})`);
	}

	get size(): number {
		return this.entries.size;
	}

	has(key: K): boolean {
		return this.entries.has(key);
	}

	/** The value, marking it as just used; undefined when absent. */
	get(key: K): V | undefined {
		if (!this.entries.has(key)) return undefined;
		const value = this.entries.get(key) as V;
		this.entries.delete(key);
		this.entries.set(key, value);
		return value;
	}

	/** Stores the value as the most recently used, forgetting the least recently used entry when full. */
	set(key: K, value: V): this {
		this.entries.delete(key);
		this.entries.set(key, value);
		if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as K);
		return this;
	}

	delete(key: K): boolean {
		return this.entries.delete(key);
	}

	clear(): void {
		this.entries.clear();
	}
}
