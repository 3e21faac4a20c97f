/**
 * Whether a URL's host is a public Internet host — for targets the Worker posts to on a user's behalf (alert
 * webhooks), which must never be turned towards internal services. Hosts are judged by their text: numeric
 * addresses in every form the URL parser or inet_aton accepts (dotted, octal, hex, one 32-bit integer,
 * short forms like 127.1), IPv6 with embedded IPv4, and names that only resolve on a local network. DNS is
 * not consulted (a Worker cannot), so a public name that resolves to a private address is not caught here.
 */

export type HostKind =
	/** 127.0.0.0/8, ::1, localhost and *.localhost: this machine. */
	| "loopback"
	/** Private, link-local, CGNAT, multicast, unspecified, documentation or otherwise reserved addresses. */
	| "private"
	/** Names that exist only on a local network: *.local, *.internal, *.home.arpa, *.localdomain. */
	| "local_name"
	/** A name without a dot (intranet, printer): resolved through a local search domain, if at all. */
	| "no_domain"
	| "public";

/** [first address, prefix length] of the IPv4 blocks that are not public (RFC 6890 and friends). */
const IPV4_BLOCKS: [string, number][] = [
	["0.0.0.0", 8], // "this network", unspecified
	["10.0.0.0", 8], // private
	["100.64.0.0", 10], // CGNAT (shared address space)
	["169.254.0.0", 16], // link-local, cloud metadata services
	["172.16.0.0", 12], // private
	["192.0.0.0", 24], // IETF protocol assignments
	["192.0.2.0", 24], // documentation
	["192.88.99.0", 24], // 6to4 relay anycast (deprecated)
	["192.168.0.0", 16], // private
	["198.18.0.0", 15], // benchmarking
	["198.51.100.0", 24], // documentation
	["203.0.113.0", 24], // documentation
	["224.0.0.0", 4], // multicast
	["240.0.0.0", 4], // reserved, broadcast
];

const LOCAL_SUFFIXES = [".local", ".internal", ".home.arpa", ".localdomain", ".lan", ".intranet", ".corp"];

/** An IPv4 address as inet_aton reads it (1–4 parts, each decimal, 0-octal or 0x-hex), or null. */
export function parseIPv4(text: string): number | null {
	const parts = text.split(".");
	if (parts.length > 4 || parts.some((p) => p === "")) return null;
	const numbers: number[] = [];
	for (const p of parts) {
		let n: number;
		if (/^0x[0-9a-f]*$/i.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
		else if (/^0[0-7]*$/.test(p)) n = parseInt(p, 8);
		else if (/^[1-9][0-9]*$/.test(p)) n = parseInt(p, 10);
		else return null;
		numbers.push(n);
	}
	const last = numbers.pop()!;
	if (numbers.some((n) => n > 255) || last >= 2 ** (8 * (4 - numbers.length))) return null;
	return numbers.reduce((acc, n, i) => acc + n * 2 ** (24 - 8 * i), 0) + last;
}

/** An IPv6 address (brackets and a zone id allowed; an IPv4 tail allowed) as 8 groups of 16 bits, or null. */
export function parseIPv6(text: string): number[] | null {
	let s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
	s = s.replace(/%.*$/, "");
	if (!/^[0-9a-f:.]+$/i.test(s) || !s.includes(":")) return null;
	let tail: number[] = [];
	const lastColon = s.lastIndexOf(":");
	const last = s.slice(lastColon + 1);
	if (last.includes(".")) {
		const v4 = parseIPv4(last);
		if (v4 === null || !/^\d{1,3}(\.\d{1,3}){3}$/.test(last)) return null;
		tail = [Math.floor(v4 / 65536), v4 % 65536];
		s = s.slice(0, lastColon + 1);
		if (!s.endsWith("::")) s = s.slice(0, -1);
	}
	const halves = s.split("::");
	if (halves.length > 2) return null;
	const groups = (h: string) => (h === "" ? [] : h.split(":"));
	const head = groups(halves[0]!);
	const rest = halves.length === 2 ? groups(halves[1]!) : [];
	if ([...head, ...rest].some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
	const given = head.length + rest.length + tail.length;
	if (halves.length === 1 ? given !== 8 : given > 7) return null;
	const zeros = new Array<number>(8 - given).fill(0);
	return [...head.map((g) => parseInt(g, 16)), ...(halves.length === 2 ? zeros : []), ...rest.map((g) => parseInt(g, 16)), ...tail];
}

function ipv4Kind(address: number): HostKind {
	if (Math.floor(address / 2 ** 24) === 127) return "loopback";
	for (const [base, bits] of IPV4_BLOCKS) {
		const size = 2 ** (32 - bits);
		const start = parseIPv4(base)!;
		if (address >= start && address < start + size) return "private";
	}
	return "public";
}

function ipv6Kind(g: number[]): HostKind {
	const v4 = g[6]! * 65536 + g[7]!;
	const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
	if (zeroUpTo(7) && g[7] === 1) return "loopback"; // ::1
	if (zeroUpTo(8)) return "private"; // ::
	if (zeroUpTo(5) && g[5] === 0xffff) return ipv4Kind(v4); // ::ffff:a.b.c.d, IPv4-mapped
	if (zeroUpTo(6)) return ipv4Kind(v4); // ::a.b.c.d, IPv4-compatible (deprecated)
	if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return ipv4Kind(v4); // NAT64
	if (g[0] === 0x2002) return ipv4Kind(g[1]! * 65536 + g[2]!); // 6to4 carries an IPv4 address
	if ((g[0]! & 0xfe00) === 0xfc00) return "private"; // fc00::/7 unique local
	if ((g[0]! & 0xffc0) === 0xfe80 || (g[0]! & 0xffc0) === 0xfec0) return "private"; // link-local, site-local
	if ((g[0]! & 0xff00) === 0xff00) return "private"; // multicast
	if (g[0] === 0x2001 && g[1] === 0x0db8) return "private"; // documentation
	if (g[0] === 0x0100 && g.slice(1, 4).every((x) => x === 0)) return "private"; // discard-only
	if (g[0] === 0x2001 && g[1]! < 0x0200) return "private"; // IETF protocol assignments (Teredo, ORCHID…)
	return "public";
}

/** What kind of host `hostname` (as `new URL(…).hostname` gives it) is. */
export function classifyHost(hostname: string): HostKind {
	const host = hostname.toLowerCase().replace(/\.+$/, "");
	if (host === "") return "no_domain";
	const v6 = host.startsWith("[") || host.includes(":") ? parseIPv6(host) : null;
	if (v6) return ipv6Kind(v6);
	if (host.startsWith("[")) return "private"; // brackets but not an address we can read: refuse
	const v4 = parseIPv4(host);
	if (v4 !== null) return ipv4Kind(v4);
	if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
	if (LOCAL_SUFFIXES.some((s) => host.endsWith(s))) return "local_name";
	if (!host.includes(".")) return "no_domain";
	// A last label of digits (or 0x…) makes no domain name: a numeric form the parser above did not read.
	if (/^(\d+|0x[0-9a-f]*)$/i.test(host.slice(host.lastIndexOf(".") + 1))) return "private";
	return "public";
}
