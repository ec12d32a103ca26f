import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guardrailExpectations } from "../../src/onboarding/guardrails.js";
import { provisionalSubnets, toProviderStackArgs } from "../../src/onboarding/stack-args.js";
import { specNamed, startTestService, type TestService } from "../helpers/service.js";
import { acme, errorsOf, globex, lz, schema, type Body } from "./spec-fixtures.js";

/**
 * outbound.ports[i].match (issue 12, defect 4): a port the firewall can never pass is refused at the
 * edge, naming the field and saying what to set. udp has no TLS SNI or HTTP Host, so it must be
 * port-matched; domains are matched only on domain ports, so they exist exactly when one does.
 */

const withPorts = (ports: unknown[], domains?: string[]): Body => {
  const b = acme();
  b.outbound.ports = ports;
  if (domains !== undefined) b.firewall.allowedDomains = domains;
  return b;
};

describe("outbound.ports[i].match", () => {
  it.each([
    ["udp without match", "/outbound/ports/1/match", "is required for udp: udp/514 carries no TLS SNI or HTTP Host", withPorts([{ port: 443, protocol: "tcp" }, { port: 514, protocol: "udp" }])],
    ["udp with match domain", "/outbound/ports/0/match", 'must be "port" for udp', withPorts([{ port: 514, protocol: "udp", match: "domain" }], [])],
    ["an unknown match", "/outbound/ports/0/match", "must be one of: domain, port", withPorts([{ port: 443, protocol: "tcp", match: "sni" }])],
    ["domain ports without domains", "/firewall/allowedDomains", "must list at least 1 domain: the port(s) tcp/443, tcp/8443", withPorts([{ port: 443, protocol: "tcp" }, { port: 8443, protocol: "tcp", match: "domain" }], [])],
    ["domains without a domain port", "/firewall/allowedDomains", 'must be empty when no outbound port has match "domain"', withPorts([{ port: 22, protocol: "tcp", match: "port" }])],
  ])("%s → one error at %s", (_, pointer, fragment, body) => {
    const errors = errorsOf(body);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: pointer });
    expect(errors[0]!.message).toContain(fragment);
  });

  it("the udp message says what to set", () => {
    const [error] = errorsOf(withPorts([{ port: 514, protocol: "udp" }], []));
    expect(error?.message).toMatch(/set "port" to pass every udp flow from the allowed source CIDRs/);
  });

  it.each([
    ["tcp without match (domain, the default)", [{ port: 443, protocol: "tcp" }], ["api.acme.example"]],
    ["udp and tcp port-matched, no domains", [{ port: 514, protocol: "udp", match: "port" }, { port: 5432, protocol: "tcp", match: "port" }], []],
    ["mixed", [{ port: 443, protocol: "tcp", match: "domain" }, { port: 514, protocol: "udp", match: "port" }], ["api.acme.example"]],
  ])("accepts %s", (_, ports, domains) => {
    expect(errorsOf(withPorts(ports, domains))).toEqual([]);
  });

  it("a spec without match keeps its parsed form (and hash): the default is resolved in the stack args", () => {
    const spec = schema.parse(acme());
    expect(spec.outbound.ports.every((p) => !("match" in p))).toBe(true);
    const region = lz.network.regions[spec.region]!;
    const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
    const args = toProviderStackArgs(spec, lz, "active", { subnets, connectionAccepted: false });
    expect(args.outbound.ports).toEqual([
      { port: 443, protocol: "tcp", match: "domain" },
      { port: 8443, protocol: "tcp", match: "domain" },
    ]);
    expect(guardrailExpectations(schema.parse(globex()), "active").outboundPorts).toEqual([
      { port: 443, protocol: "tcp", match: "domain" },
      { port: 514, protocol: "udp", match: "port" },
    ]);
  });
});

describe("over HTTP", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.close(5_000);
  });

  it("POST /v1/providers with a udp port without match → 400 problem+json naming /outbound/ports/<i>/match", async () => {
    const spec = specNamed("udp-port") as Body;
    spec.outbound = { ...spec.outbound, ports: [{ port: 443, protocol: "tcp" }, { port: 514, protocol: "udp" }] };
    const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: spec });
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    const errors = (res.json() as { errors: { path: string; message: string }[] }).errors;
    expect(errors.map((e) => e.path)).toEqual(["/outbound/ports/1/match"]);
    expect(errors[0]?.message).toContain('set "port"');
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers/udp-port" })).statusCode).toBe(404);
  });
});
