/** The token of an `Authorization: Bearer <token>` header, or null when there is none or it is malformed. */
export function bearerToken(header: string | undefined): string | null {
	const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
	return m ? m[1]! : null;
}
