import { env } from "cloudflare:test";
import { vi } from "vitest";

/**
 * Watches every request to Outreach's `/oauth/token` made from this isolate (the Worker and its Durable
 * Objects run here in tests), optionally answering some of them itself — to count refreshes, see which
 * refresh tokens were sent, hold a refresh in flight, and simulate Outreach's token endpoint being down.
 */

/** `status` 0: the request got no answer (network failure). */
export type TokenRequest = { grantType: string | null; refreshToken: string | null; status: number };

/** Answers one token request; `forward` sends it on to the local Outreach. */
export type Answer = (forward: () => Promise<Response>) => Response | Promise<Response>;

export function watchTokenRequests() {
	const seen: TokenRequest[] = [];
	let answers: Answer[] = [];
	const original = globalThis.fetch;
	const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
		const request = new Request(input, init);
		if (!request.url.startsWith(`${env.OUTREACH_API_BASE}/oauth/token`)) return original(request);
		const form = new URLSearchParams(new TextDecoder().decode(await request.clone().arrayBuffer()));
		const answer = answers.shift();
		const record = (status: number) => seen.push({ grantType: form.get("grant_type"), refreshToken: form.get("refresh_token"), status });
		try {
			const forward = () => original(request);
			const res = answer ? await answer(forward) : await forward();
			record(res.status);
			return res;
		} catch (err) {
			record(0); // no answer: a network failure
			throw err;
		}
	});
	return {
		/** Every token request so far, in order. */
		requests: seen,
		/** Refresh requests so far. */
		refreshes: () => seen.filter((r) => r.grantType === "refresh_token"),
		/** The next token requests are answered by these, in order (each may `forward()` to Outreach, e.g. late). */
		answerNext(...next: Answer[]) {
			answers = [...answers, ...next];
		},
		restore: () => spy.mockRestore(),
	};
}

/** A 503 from the token endpoint, as during Outreach maintenance. */
export const unavailable503 = () => new Response(JSON.stringify({ error: "temporarily_unavailable" }), { status: 503 });
/** The real answer, `ms` late: a refresh that stays in flight while a test does something else. */
export const late =
	(ms: number): Answer =>
	async (forward) => {
		await new Promise((resolve) => setTimeout(resolve, ms));
		return forward();
	};
/** The real answer, held until `release()`: a refresh that stays in flight until the test has done its part, however slow the machine. */
export function held(): { answer: Answer; release: () => void } {
	let release!: () => void;
	const released = new Promise<void>((resolve) => (release = resolve));
	return {
		answer: async (forward) => {
			await released;
			return forward();
		},
		release,
	};
}
/** A network failure (no answer at all). */
export const networkDown = (): Response => {
	throw new TypeError("Network connection lost.");
};
