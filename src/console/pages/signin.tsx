import type { Context, Hono } from "hono";
import { adminTokenProblem, principalOf } from "../../auth/admin-token";
import { log } from "../../platform/log";
import { noteWrongToken, throttledMessage } from "../../auth/throttle";
import { endSession, readSessionId, startSession } from "../../auth/session";
import { Callout } from "../components";
import type { ConsoleEnv } from "../context";
import { safeNext, SignInForm } from "../forms";
import { barePage, requireSession } from "../guard";

type SignInProps = { next: string; error?: string; notice?: string };

function signInPage(c: Context, status: 200 | 401 | 429 | 500, props: SignInProps) {
	return barePage(
		c,
		status,
		"Sign in",
		<>
			<p class="muted">Manage the destinations that stream Adobe Experience Platform audiences into Outreach.</p>
			{props.notice && <Callout tone="info">{props.notice}</Callout>}
			{props.error && (
				<Callout tone="bad" testid="signin-error">
					<p>{props.error}</p>
				</Callout>
			)}
			<form method="post" action="/signin">
				<input type="hidden" name="next" value={props.next} />
				<div class="field">
					<label for="token">Admin token or API key</label>
					<input
						id="token"
						name="token"
						type="password"
						autocomplete="current-password"
						required
						autofocus
						aria-invalid={props.error ? "true" : undefined}
					/>
				</div>
				<button type="submit" class="btn primary">
					Sign in
				</button>
			</form>
			<details class="help">
				<summary>Where do I find the admin token or an API key?</summary>
				<p class="small muted">
					Locally, <code>npm start</code> prints it (it lives in <code>.dev.vars</code>). In production it is the <code>ADMIN_TOKEN</code> secret you set
					with <code>wrangler secret put ADMIN_TOKEN</code>. An API key is created by someone with the manage role (Keys page, or <code>POST /api/keys</code>); its role decides what you may do here. Your session lasts 12 hours; the token itself is never stored in your browser.
				</p>
			</details>
		</>,
	);
}

/** Sign-in with the admin token (→ a session cookie) and sign-out. */
export function registerSignIn(app: Hono<ConsoleEnv>): void {
	app.get("/signin", async (c) => {
		const next = safeNext(c.req.query("next"));
		const problem = adminTokenProblem(c.env);
		if (problem) return signInPage(c, 500, { next, error: problem });
		if (await readSessionId(c)) return c.redirect(next, 303);
		return signInPage(c, 200, { next, notice: c.req.query("signed_out") ? "You are signed out." : undefined });
	});

	app.post("/signin", async (c) => {
		const form = SignInForm.parse(await c.req.parseBody());
		const next = safeNext(form.next);
		const problem = adminTokenProblem(c.env);
		if (problem) return signInPage(c, 500, { next, error: problem });
		const principal = form.token ? await principalOf(c.env, form.token) : null;
		if (!principal) {
			// Shares the admin API's count of wrong tokens per address (src/auth/throttle.ts); the right token is never throttled.
			const retryAfter = form.token ? await noteWrongToken(c.env, c.req.raw.headers) : 0;
			log("warn", "console_signin_refused", { throttled: retryAfter > 0 });
			if (retryAfter > 0) {
				c.header("Retry-After", String(retryAfter));
				return signInPage(c, 429, { next, error: throttledMessage(retryAfter) });
			}
			return signInPage(c, 401, { next, error: "That is not this Worker's admin token, nor a live API key. Check for a missing character, or see below where to find it; a deleted API key no longer works — ask an admin for a new one." });
		}
		await startSession(c, principal);
		log("info", "console_signin", { kind: principal.kind });
		return c.redirect(next, 303);
	});

	app.post("/signout", requireSession, async (c) => {
		await endSession(c);
		return c.redirect("/signin?signed_out=1", 303);
	});
}
