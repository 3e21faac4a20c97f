import { html } from "hono/html";

// The two pages a person sees at the local Outreach: the sign-in form and an error page. `html` escapes every
// interpolated value, so a hostile state or redirect_uri cannot inject markup.

/** What the authorize request asked for; carried through the form in hidden fields. */
export type AuthorizeRequest = { clientId: string; redirectUri: string; responseType: string; scope: string; state: string };

const style = html`<style>
	body { font: 15px/1.45 system-ui, sans-serif; background: #f4f5f7; color: #1d2330; margin: 0; }
	main { max-width: 22rem; margin: 4rem auto; background: #fff; padding: 1.75rem 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; }
	h1 { font-size: 1.25rem; margin: 0 0 .25rem; }
	p { margin: .25rem 0 1rem; color: #4a5365; }
	label { display: block; margin: .75rem 0 .25rem; font-weight: 600; }
	input[type=email], input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem; border: 1px solid #c5cad3; border-radius: 4px; font: inherit; }
	.buttons { display: flex; gap: .5rem; margin-top: 1.25rem; }
	button { flex: 1; padding: .55rem; border-radius: 4px; border: 1px solid #5951ff; font: inherit; cursor: pointer; }
	button[value=approve] { background: #5951ff; color: #fff; }
	button[value=decline] { background: #fff; color: #5951ff; }
	.error { background: #fde8e8; color: #9b1c1c; padding: .5rem .75rem; border-radius: 4px; }
	.hint { margin: 1.25rem 0 0; font-size: .8rem; color: #7a8294; text-align: center; }
	code { background: #eef0f4; padding: 0 .25rem; border-radius: 3px; }
</style>`;

export function signInPage(request: AuthorizeRequest, email: string, error?: string) {
	const scopes = request.scope.split(/\s+/).filter(Boolean);
	return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · local Outreach</title>${style}</head>
<body><main>
	<h1>Sign in to Outreach</h1>
	<p><code>${request.clientId}</code> asks for: ${scopes.length ? scopes.join(", ") : "no scopes"}.</p>
	${error ? html`<p class="error" role="alert">${error}</p>` : ""}
	<form method="post" action="/oauth/authorize">
		<input type="hidden" name="client_id" value="${request.clientId}">
		<input type="hidden" name="redirect_uri" value="${request.redirectUri}">
		<input type="hidden" name="response_type" value="${request.responseType}">
		<input type="hidden" name="scope" value="${request.scope}">
		<input type="hidden" name="state" value="${request.state}">
		<label for="email">Email</label>
		<input id="email" type="email" name="email" value="${email}" autocomplete="username" required autofocus>
		<label for="password">Password</label>
		<input id="password" type="password" name="password" autocomplete="current-password">
		<div class="buttons">
			<button type="submit" name="decision" value="approve">Approve</button>
			<button type="submit" name="decision" value="decline" formnovalidate>Decline</button>
		</div>
	</form>
	<p class="hint">The local stand-in for api.outreach.io.</p>
</main></body></html>`;
}

export function errorPage(title: string, message: string) {
	return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · local Outreach</title>${style}</head>
<body><main><h1>${title}</h1><p class="error">${message}</p></main></body></html>`;
}
