/**
 * The Worker tests' global teardown: every test runtime started a local Outreach of its own (vitest.config.ts,
 * `ownLocalOutreach`); they are closed here when the run ends, so no server or applier timer outlives it.
 */
export default function setup() {
	return async () => {
		const servers = (globalThis as { [key: symbol]: { close(): Promise<void> }[] | undefined })[Symbol.for("aep-outreach.local-outreaches")] ?? [];
		await Promise.all(servers.splice(0).map((s) => s.close()));
	};
}
