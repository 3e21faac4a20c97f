/**
 * Who is making a request, and what they may do. The roles mirror AEP's destination permissions (View,
 * Activate and Manage Destinations), so a team grants here what it already grants in AEP.
 */

export const ROLES = ["view", "activate", "manage"] as const;
export type Role = (typeof ROLES)[number];

/** Each role includes every right of the roles before it. */
const RANK: Record<Role, number> = { view: 0, activate: 1, manage: 2 };

/** An API key as listed (never the key itself). */
export type ApiKeyInfo = { id: string; name: string; role: Role; createdAt: string; lastUsedAt: string | null };

export type Principal =
	/** ADMIN_TOKEN: the owner's break-glass key, with every right. */
	| { kind: "owner" }
	| { kind: "key"; id: string; name: string; role: Role }
	| { kind: "access"; email: string; role: Role }
	/** The Worker itself (the alert evaluator reading through the typed client): reads only. */
	| { kind: "system"; role: "view" };

export function roleOf(p: Principal): Role | "owner" {
	return p.kind === "owner" ? "owner" : p.role;
}

/** True when `p` holds `needed` (the owner holds every role). */
export function mayAct(p: Principal, needed: Role): boolean {
	return p.kind === "owner" || RANK[p.role] >= RANK[needed];
}

/** How the audit log names an actor: never a secret, only names and ids. */
export function actorName(p: Principal): string {
	switch (p.kind) {
		case "owner":
			return "owner";
		case "key":
			return `key ${p.name} (${p.id})`;
		case "access":
			return `${p.email} (Access)`;
		case "system":
			return "system";
	}
}
