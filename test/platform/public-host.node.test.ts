import { describe, expect, it } from "vitest";
import { classifyHost, parseIPv4, parseIPv6 } from "../../src/platform/public-host.ts";

/** The host judge behind webhook URLs, on the raw forms too (test/alerts/webhook-targets.test.ts goes through the API). */

describe("classifyHost", () => {
	it.each([
		["127.0.0.1", "loopback"],
		["0177.0.0.1", "loopback"],
		["0x7f.1", "loopback"],
		["2130706433", "loopback"],
		["127.1", "loopback"],
		["LOCALHOST", "loopback"],
		["a.b.localhost.", "loopback"],
		["[::1]", "loopback"],
		["[0:0:0:0:0:0:0:1]", "loopback"],
		["10.0.0.1", "private"],
		["012.0.0.1", "private"],
		["0xa.0.0.1", "private"],
		["167772161", "private"],
		["169.254.169.254", "private"],
		["100.127.255.255", "private"],
		["172.31.0.1", "private"],
		["192.168.0.1", "private"],
		["0.0.0.0", "private"],
		["0", "private"],
		["239.1.1.1", "private"],
		["[::]", "private"],
		["[::ffff:10.0.0.1]", "private"],
		["[::ffff:a00:1]", "private"],
		["[::ffff:127.0.0.1]", "loopback"],
		["[64:ff9b::a9fe:a9fe]", "private"],
		["[2002:a00:1::]", "private"],
		["[fc00::1]", "private"],
		["[fdff::1]", "private"],
		["[fe80::1%25eth0]", "private"],
		["[febf::1]", "private"],
		["[ff02::1]", "private"],
		["[2001:db8::1]", "private"],
		["printer.local", "local_name"],
		["metadata.google.internal", "local_name"],
		["intranet", "no_domain"],
		["1.2.3.4.5", "private"],
		["hooks.slack.com", "public"],
		["8.8.8.8", "public"],
		["172.32.0.1", "public"],
		["100.128.0.1", "public"],
		["[2606:4700:4700::1111]", "public"],
		["[::ffff:8.8.8.8]", "public"],
	])("%s is %s", (host, kind) => {
		expect(classifyHost(host)).toBe(kind);
	});
});

describe("the address parsers", () => {
	it("read IPv4 as inet_aton does, and refuse what it refuses", () => {
		expect(parseIPv4("1.2.3.4")).toBe(0x01020304);
		expect(parseIPv4("1.2.772")).toBe(0x01020304);
		expect(parseIPv4("0x1.0x2.0x3.0x4")).toBe(0x01020304);
		expect(parseIPv4("4294967295")).toBe(0xffffffff);
		for (const bad of ["4294967296", "1.2.3.256", "08.1.1.1", "1..2", "a.b.c.d", "1.2.3.4.5"]) expect(parseIPv4(bad), bad).toBeNull();
	});

	it("read IPv6 with :: and an IPv4 tail, and refuse malformed ones", () => {
		expect(parseIPv6("::1")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
		expect(parseIPv6("[::ffff:1.2.3.4]")).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
		expect(parseIPv6("1:2:3:4:5:6:1.2.3.4")).toEqual([1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
		expect(parseIPv6("fe80::")).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 0]);
		for (const bad of ["1:2:3", "1::2::3", "12345::", "::1.2.3", "1:2:3:4:5:6:7:8:9", "g::1"]) expect(parseIPv6(bad), bad).toBeNull();
	});
});
