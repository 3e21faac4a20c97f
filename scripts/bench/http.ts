/** HTTP helpers for the benchmark: the Worker's admin API and the local Outreach's control routes. */

export class HttpError extends Error {}

/** `status` is the one status expected, or "2xx" for any success. */
async function expectJson<T>(res: Response, what: string, status: number | "2xx"): Promise<T> {
	const text = await res.text();
	if (status === "2xx" ? res.status < 200 || res.status > 299 : res.status !== status) throw new HttpError(`${what} answered ${res.status} (expected ${status}): ${text.slice(0, 500)}`);
	return (text ? JSON.parse(text) : undefined) as T;
}

/** The Worker's admin API, with its bearer token. */
export function adminClient(workerUrl: string, adminToken: string) {
	return async function admin<T>(method: string, path: string, body?: unknown, status: number | "2xx" = 200): Promise<T> {
		const res = await fetch(`${workerUrl}${path}`, {
			method,
			headers: { Authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
			...(body === undefined ? {} : { body: JSON.stringify(body) }),
		});
		return expectJson<T>(res, `${method} ${path}`, status);
	};
}
export type Admin = ReturnType<typeof adminClient>;

export type FakeRequest = { at: number; userId: number | null; method: string; path: string; status: number };
export type FakeStats = {
	status429: number;
	usage: { userId: number; windowStart: number; count: number }[];
	requests: Record<string, Record<string, number>>;
	bulk?: { requests: number; items: number; unfilteredRequests: number; quota429: number };
	/** `created`: prospects an import created (a destination must send `overwriteNoCreate`: always 0). */
	imports?: { requests: number; records: number; created: number; quota429: number };
};
export type FakeWrite = { at: number; prospectId: number; field: string; value: unknown; via: "patch" | "bulk" | "import"; batchId?: number; importId?: number };

/** The local Outreach's /__fake control routes. */
export function outreachControl(outreachUrl: string) {
	const get = async <T>(path: string) => expectJson<T>(await fetch(`${outreachUrl}/__fake${path}`), `GET /__fake${path}`, 200);
	const post = async (path: string, body: unknown) =>
		expectJson<{ ok: true }>(
			await fetch(`${outreachUrl}/__fake${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }),
			`POST /__fake${path}`,
			200,
		);
	return {
		reset: (settings: Record<string, unknown>) => post("/reset", settings),
		stats: () => get<FakeStats>("/stats"),
		requests: async (since = 0) => (await get<{ requests: FakeRequest[] }>(`/requests${since ? `?since=${since}` : ""}`)).requests,
		writes: async (since = 0) => (await get<{ writes: FakeWrite[] }>(`/writes${since ? `?since=${since}` : ""}`)).writes,
		/** The whole write log, a page at a time (one answer for millions of writes would pass V8's string limit). */
		allWrites: async () => {
			const all: FakeWrite[] = [];
			for (let offset: number | null = 0; offset !== null; ) {
				const page: { writes: FakeWrite[]; next: number | null } = await get(`/writes?offset=${offset}&limit=200000`);
				for (const w of page.writes) all.push(w);
				offset = page.next;
			}
			return all;
		},
		prospect: async (id: number) => (await get<{ data: { attributes: Record<string, unknown> } }>(`/prospects/${id}`)).data.attributes,
	};
}
export type OutreachControl = ReturnType<typeof outreachControl>;

const unescapeHtml = (s: string) =>
	s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

/**
 * Signs in at the local Outreach's authorize page as a person would — GET the form, POST it back with the
 * credentials — and answers where Outreach redirects (the redirect_uri with `code` and `state`).
 */
export async function signInAtOutreach(authorizeUrl: string, email: string, password: string): Promise<URL> {
	const page = await fetch(authorizeUrl);
	const html = await page.text();
	if (page.status !== 200) throw new HttpError(`the sign-in form answered ${page.status}: ${html.slice(0, 300)}`);
	const form = new URLSearchParams();
	for (const tag of html.match(/<input\b[^>]*>/gi) ?? []) {
		if (!/type="hidden"/i.test(tag)) continue;
		const name = /name="([^"]*)"/i.exec(tag)?.[1];
		if (name) form.set(unescapeHtml(name), unescapeHtml(/value="([^"]*)"/i.exec(tag)?.[1] ?? ""));
	}
	form.set("email", email);
	form.set("password", password);
	form.set("decision", "approve");
	const action = unescapeHtml(/<form[^>]*action="([^"]+)"/i.exec(html)?.[1] ?? "/oauth/authorize");
	const res = await fetch(new URL(action, authorizeUrl), { method: "POST", body: form, redirect: "manual" });
	const location = res.headers.get("Location");
	if (res.status !== 302 || !location) throw new HttpError(`signing in answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
	return new URL(location);
}

/** Runs `task` over `items` with at most `concurrency` at once, in order of the items. */
export async function pool<T>(items: T[], concurrency: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const i = next++;
			await task(items[i]!, i);
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Counts the field writes the local Outreach has applied, polling `/__fake/writes?since=` so each poll reads
 * only what is new (`since` is inclusive: entries of the last millisecond seen are read again, not recounted).
 */
export function writeCounter(outreach: OutreachControl) {
	let cursor = 0;
	let before = 0; // entries applied before `cursor`
	return async (): Promise<number> => {
		const fresh = await outreach.writes(cursor); // every entry at or after `cursor`
		if (fresh.length === 0) return before;
		const total = before + fresh.length;
		const last = fresh[fresh.length - 1]!.at;
		before += fresh.filter((w) => w.at < last).length;
		cursor = last;
		return total;
	};
}
