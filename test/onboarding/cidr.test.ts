import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cidrWithin, formatCidr, formatIpv4, isValidCidr, isWorldOpen, parseCidr } from "../../src/onboarding/cidr.js";

describe("isValidCidr", () => {
  it.each(["10.0.0.0/8", "172.16.0.0/12", "10.20.30.40/32", "0.0.0.0/0", "255.255.255.255/32"])("accepts %s", (c) => {
    expect(isValidCidr(c)).toBe(true);
  });

  it.each([
    ["host bits set", "10.0.0.1/8"],
    ["octet > 255", "10.0.0.256/32"],
    ["leading zero", "10.01.0.0/16"],
    ["prefix > 32", "10.0.0.0/33"],
    ["no prefix", "10.0.0.0"],
    ["IPv6", "fd00::/8"],
    ["spaces", " 10.0.0.0/8"],
    ["empty", ""],
  ])("rejects %s (%s)", (_label, c) => {
    expect(isValidCidr(c)).toBe(false);
  });
});

describe("isWorldOpen", () => {
  it("is true only for a /0", () => {
    expect(isWorldOpen("0.0.0.0/0")).toBe(true);
    expect(isWorldOpen("0.0.0.0/1")).toBe(false);
    expect(isWorldOpen("128.0.0.0/1")).toBe(false);
    expect(isWorldOpen("garbage")).toBe(false);
  });
});

describe("cidrWithin", () => {
  it.each([
    ["10.20.0.0/16", "10.0.0.0/8", true],
    ["10.0.0.0/8", "10.0.0.0/8", true],
    ["10.0.0.0/7", "10.0.0.0/8", false],
    ["11.0.0.0/16", "10.0.0.0/8", false],
    ["172.31.255.0/24", "172.16.0.0/12", true],
    ["172.32.0.0/24", "172.16.0.0/12", false],
    ["10.1.2.3/32", "10.1.2.3/32", true],
    ["bad", "10.0.0.0/8", false],
  ])("%s within %s → %s", (inner, outer, expected) => {
    expect(cidrWithin(inner, outer)).toBe(expected);
  });
});

describe("parseCidr / formatCidr / formatIpv4", () => {
  it("round-trip every canonical block", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (prefix, address) => {
        const base = address - (address % 2 ** (32 - prefix));
        const text = formatCidr({ base, prefix });
        expect(isValidCidr(text)).toBe(true);
        expect(parseCidr(text)).toEqual({ base, prefix });
      }),
    );
  });

  it("formats the extremes", () => {
    expect(formatIpv4(0)).toBe("0.0.0.0");
    expect(formatIpv4(2 ** 32 - 1)).toBe("255.255.255.255");
    expect(formatIpv4(167_772_160)).toBe("10.0.0.0");
  });
});
