/**
 * Alert messages are Slack-compatible `{text}`, where `<!channel>`, `<@U123>` and `<url|label>` are markup.
 * User text — a destination's name, an Outreach user's email — goes through `slackEscape`, so it shows as
 * typed and can neither ping a channel nor disguise a link; the message's own markup (the console link) is
 * added around it unescaped. These are the three characters Slack asks to escape.
 */
export function slackEscape(text: string): string {
	return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
