/**
 * Quoting for the shell commands the console shows people to copy and paste (the "Try it" `curl`). They
 * carry user data — segment ids, identity namespaces — so every value goes through `shellQuote`, and a
 * pasted command runs exactly the program shown, with each value as one argument.
 */

/**
 * `value` as one POSIX shell word: wrapped in single quotes, inside which nothing is special, with each `'`
 * written as `'\''` (close the quote, an escaped quote, reopen). A NUL cannot be passed to a program at all;
 * JSON never contains one raw.
 */
export function shellQuote(value: string): string {
	return `'${value.replace(/'/g, `'\\''`)}'`;
}
