import { describe, expect, it } from "vitest";
import { z } from "zod";
import { buildProviderSpecSchema, zodIssuesToFieldErrors } from "../../src/onboarding/spec.js";
import { acme, errorsOf, globex, lz, readExample, schema, setOwn, type Body } from "./spec-fixtures.js";

/**
 * One failing case per field rule: each mistake must yield exactly one error, at the JSON pointer of the
 * offending member, saying what is expected.
 */
type Case = readonly [label: string, base: () => Body, mutate: (b: Body) => void, pointer: string, fragment: string];

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const PROVIDER_ROLE = (i: number) => `arn:aws:iam::444444444444:role/r${i}`;

const cases: readonly Case[] = [
  ["apiVersion wrong", acme, (b) => (b.apiVersion = "saas-bridge/v2"), "/apiVersion", 'must be "saas-bridge/v1"'],
  ["apiVersion missing", acme, (b) => delete b.apiVersion, "/apiVersion", "is required"],
  ["name uppercase", acme, (b) => (b.name = "Acme"), "/name", "3–40 characters of a-z, 0-9 and '-'"],
  ["name too short", acme, (b) => (b.name = "ab"), "/name", "3–40 characters"],
  ["name too long", acme, (b) => (b.name = "a".repeat(41)), "/name", "3–40 characters"],
  ["name trailing dash", acme, (b) => (b.name = "acme-"), "/name", "ending with a letter or digit"],
  ["name leading digit", acme, (b) => (b.name = "1acme"), "/name", "starting with a letter"],
  ["name double dash", acme, (b) => (b.name = "ac--me"), "/name", "must not contain '--'"],
  ["name wrong type", acme, (b) => (b.name = 42), "/name", "must be a string"],
  ["name missing", acme, (b) => delete b.name, "/name", "is required"],
  ["displayName empty", acme, (b) => (b.displayName = ""), "/displayName", "must be 1–100 characters"],
  ["displayName too long", acme, (b) => (b.displayName = "x".repeat(101)), "/displayName", "must be 1–100 characters"],
  ["displayName control char", acme, (b) => (b.displayName = "Acme\u0007"), "/displayName", "control"],
  ["displayName bidi override", acme, (b) => (b.displayName = "Acme \u202Etxt"), "/displayName", "bidirectional-override"],
  ["displayName blank", acme, (b) => (b.displayName = "   "), "/displayName", "must not be blank"],
  ["owner missing", acme, (b) => delete b.owner, "/owner", "is required"],
  ["owner wrong type", acme, (b) => (b.owner = "team"), "/owner", "must be an object"],
  ["owner.team not a slug", acme, (b) => (b.owner.team = "Data Platform"), "/owner/team", "1–63 characters of a-z"],
  ["owner.team double dash", acme, (b) => (b.owner.team = "data--platform"), "/owner/team", "must not contain '--'"],
  ["owner.contact not email", acme, (b) => (b.owner.contact = "nope"), "/owner/contact", "must be an email address"],
  ["dataClassification", acme, (b) => (b.dataClassification = "secret"), "/dataClassification", "must be one of: public, internal, confidential, restricted"],
  ["region not allowed", acme, (b) => (b.region = "us-east-1"), "/region", "must be one of the allowed regions: eu-west-1, eu-central-1"],
  ["bridgeAccount neither", acme, (b) => (b.bridgeAccount = {}), "/bridgeAccount", "must be either {accountId}"],
  ["bridgeAccount both", acme, (b) => (b.bridgeAccount.create = { email: "a@example.com" }), "/bridgeAccount", "or {create: {email}}"],
  ["bridgeAccount wrong type", acme, (b) => (b.bridgeAccount = "333333333333"), "/bridgeAccount", "must be either"],
  ["bridgeAccount.accountId", acme, (b) => (b.bridgeAccount.accountId = "12345"), "/bridgeAccount/accountId", "12-digit AWS account id"],
  ["bridgeAccount.accountId type", acme, (b) => (b.bridgeAccount.accountId = 333333333333), "/bridgeAccount/accountId", "must be of type string"],
  ["bridgeAccount.accountId management", acme, (b) => (b.bridgeAccount.accountId = "111111111111"), "/bridgeAccount/accountId", "not the Organizations management account"],
  ["bridgeAccount.accountId network", acme, (b) => (b.bridgeAccount.accountId = "222222222222"), "/bridgeAccount/accountId", "not the central network account"],
  ["bridgeAccount.accountId provider's", acme, (b) => (b.bridgeAccount.accountId = b.provider.awsAccountId), "/bridgeAccount/accountId", "not the provider's own account"],
  ["bridgeAccount.create.email", globex, (b) => (b.bridgeAccount.create.email = "x"), "/bridgeAccount/create/email", "must be an email address"],
  ["bridgeAccount.create.email missing", globex, (b) => (b.bridgeAccount.create = {}), "/bridgeAccount/create/email", "is required"],
  ["bridgeAccount.create.email too long", globex, (b) => (b.bridgeAccount.create.email = `${"a".repeat(60)}@example.com`), "/bridgeAccount/create/email", "6–64 characters"],
  ["provider.awsAccountId", acme, (b) => (b.provider.awsAccountId = "abc"), "/provider/awsAccountId", "12-digit AWS account id"],
  ["principalArns empty", acme, (b) => (b.provider.principalArns = []), "/provider/principalArns", "at least 1 principal ARNs"],
  ["principalArns > 10", acme, (b) => (b.provider.principalArns = range(11).map(PROVIDER_ROLE)), "/provider/principalArns", "at most 10 principal ARNs"],
  ["principalArn format", acme, (b) => (b.provider.principalArns = ["arn:aws:s3:::bucket"]), "/provider/principalArns/0", "must be an IAM role or user ARN"],
  ["principalArn account root", acme, (b) => (b.provider.principalArns = ["arn:aws:iam::444444444444:root"]), "/provider/principalArns/0", "an account root would grant the key to the whole account"],
  ["principalArn other account", acme, (b) => b.provider.principalArns.push("arn:aws:iam::999999999999:role/x"), "/provider/principalArns/1", "in the provider's account 444444444444"],
  ["principalArns duplicate", acme, (b) => b.provider.principalArns.push(b.provider.principalArns[0]), "/provider/principalArns/1", "duplicates the principal ARN at index 0"],
  ["endpointServiceName format", acme, (b) => (b.outbound.endpointServiceName = "com.amazonaws.vpce.eu-west-1.vpce-svc-123"), "/outbound/endpointServiceName", "vpce-svc-<17 hex digits>"],
  ["endpointServiceName region", acme, (b) => (b.outbound.endpointServiceName = "com.amazonaws.vpce.eu-central-1.vpce-svc-0123456789abcdef0"), "/outbound/endpointServiceName", "in the spec's region eu-west-1, not in eu-central-1"],
  ["ports empty", acme, (b) => (b.outbound.ports = []), "/outbound/ports", "at least 1 ports"],
  ["ports > 20", acme, (b) => (b.outbound.ports = range(21).map((i) => ({ port: 1000 + i, protocol: "tcp" }))), "/outbound/ports", "at most 20 ports"],
  ["port zero", acme, (b) => (b.outbound.ports[0].port = 0), "/outbound/ports/0/port", "integer port number from 1 to 65535"],
  ["port too big", acme, (b) => (b.outbound.ports[0].port = 65_536), "/outbound/ports/0/port", "from 1 to 65535"],
  ["port fraction", acme, (b) => (b.outbound.ports[0].port = 443.5), "/outbound/ports/0/port", "integer port number"],
  ["port as string", acme, (b) => (b.outbound.ports[0].port = "443"), "/outbound/ports/0/port", "integer port number"],
  ["port missing", acme, (b) => delete b.outbound.ports[0].port, "/outbound/ports/0/port", "is required"],
  ["protocol", acme, (b) => (b.outbound.ports[1].protocol = "icmp"), "/outbound/ports/1/protocol", "must be tcp or udp"],
  ["ports duplicate", acme, (b) => (b.outbound.ports[1] = { ...b.outbound.ports[0] }), "/outbound/ports/1", "duplicates the port and protocol at index 0"],
  ["cidrs empty", acme, (b) => (b.outbound.allowedSourceCidrs = []), "/outbound/allowedSourceCidrs", "at least 1 CIDRs"],
  ["cidrs > 50", acme, (b) => (b.outbound.allowedSourceCidrs = range(51).map((i) => `10.0.${i}.0/24`)), "/outbound/allowedSourceCidrs", "at most 50 CIDRs"],
  ["cidr world-open", acme, (b) => (b.outbound.allowedSourceCidrs[1] = "0.0.0.0/0"), "/outbound/allowedSourceCidrs/1", "must not be open to the world (0.0.0.0/0)"],
  ["cidr host bits", acme, (b) => (b.outbound.allowedSourceCidrs[0] = "10.0.0.1/8"), "/outbound/allowedSourceCidrs/0", "canonical form"],
  ["cidr garbage", acme, (b) => (b.outbound.allowedSourceCidrs[0] = "ten.0.0.0/8"), "/outbound/allowedSourceCidrs/0", "IPv4 CIDR"],
  ["cidr outside org", acme, (b) => (b.outbound.allowedSourceCidrs[1] = "192.168.0.0/16"), "/outbound/allowedSourceCidrs/1", "inside one of the organization's CIDR ranges: 10.0.0.0/8, 172.16.0.0/12"],
  ["cidr wider than org", acme, (b) => (b.outbound.allowedSourceCidrs[0] = "10.0.0.0/7"), "/outbound/allowedSourceCidrs/0", "organization's CIDR ranges"],
  ["cidrs duplicate", acme, (b) => (b.outbound.allowedSourceCidrs[1] = b.outbound.allowedSourceCidrs[0]), "/outbound/allowedSourceCidrs/1", "duplicates the CIDR at index 0"],
  ["privateDns", acme, (b) => (b.outbound.privateDns = "yes"), "/outbound/privateDns", "must be true or false"],
  ["inbound wrong type", globex, (b) => (b.inbound = []), "/inbound", "must be an object"],
  ["targets empty", globex, (b) => (b.inbound.targets = []), "/inbound/targets", "at least 1 targets"],
  ["targets > 20", globex, (b) => (b.inbound.targets = range(21).map((i) => ({ ip: `10.40.0.${i}`, port: 443 }))), "/inbound/targets", "at most 20 targets"],
  ["target ip outside org", globex, (b) => (b.inbound.targets[0].ip = "192.168.1.1"), "/inbound/targets/0/ip", "organization's CIDR ranges: 10.0.0.0/8, 172.16.0.0/12"],
  ["target ip malformed", globex, (b) => (b.inbound.targets[0].ip = "10.0.0.256"), "/inbound/targets/0/ip", "must be an IPv4 address"],
  ["target port", globex, (b) => (b.inbound.targets[1].port = -1), "/inbound/targets/1/port", "from 1 to 65535"],
  ["targets duplicate", globex, (b) => (b.inbound.targets[1] = { ...b.inbound.targets[0] }), "/inbound/targets/1", "duplicates the target ip and port at index 0"],
  ["allowedPrincipals empty", globex, (b) => (b.inbound.allowedPrincipals = []), "/inbound/allowedPrincipals", "at least 1 principal ARNs"],
  ["allowedPrincipals > 10", globex, (b) => (b.inbound.allowedPrincipals = range(11).map(PROVIDER_ROLE)), "/inbound/allowedPrincipals", "at most 10"],
  ["allowedPrincipal format", globex, (b) => (b.inbound.allowedPrincipals[0] = "555555555555"), "/inbound/allowedPrincipals/0", "must be an IAM principal ARN"],
  ["allowedPrincipals duplicate", globex, (b) => b.inbound.allowedPrincipals.push(b.inbound.allowedPrincipals[0]), "/inbound/allowedPrincipals/1", "duplicates the principal ARN at index 0"],
  ["certificateArn format", globex, (b) => (b.inbound.tls.certificateArn = "arn:aws:iam::222222222222:role/x"), "/inbound/tls/certificateArn", "must be an ACM certificate ARN"],
  ["certificateArn region", globex, (b) => (b.inbound.tls.certificateArn = b.inbound.tls.certificateArn.replace("eu-central-1", "eu-west-1")), "/inbound/tls/certificateArn", "network account 222222222222 and region eu-central-1"],
  ["certificateArn account", globex, (b) => (b.inbound.tls.certificateArn = b.inbound.tls.certificateArn.replace("222222222222", "555555555555")), "/inbound/tls/certificateArn", "in the network account 222222222222"],
  ["domains empty", acme, (b) => (b.firewall.allowedDomains = []), "/firewall/allowedDomains", "must list at least 1 domain: the port(s) tcp/443, tcp/8443"],
  ["domains > 100", acme, (b) => (b.firewall.allowedDomains = range(101).map((i) => `d${i}.example.com`)), "/firewall/allowedDomains", "at most 100 domains"],
  ["domain uppercase", acme, (b) => (b.firewall.allowedDomains[0] = "API.acme.example"), "/firewall/allowedDomains/0", "must be lowercase"],
  ["domain double wildcard", acme, (b) => (b.firewall.allowedDomains[2] = "*.*.acme.example"), "/firewall/allowedDomains/2", "single leading '*.'"],
  ["domain inner wildcard", acme, (b) => (b.firewall.allowedDomains[0] = "api.*.example"), "/firewall/allowedDomains/0", "single leading '*.'"],
  ["domain bare wildcard", acme, (b) => (b.firewall.allowedDomains[0] = "*"), "/firewall/allowedDomains/0", "single leading '*.'"],
  ["domain single label", acme, (b) => (b.firewall.allowedDomains[0] = "localhost"), "/firewall/allowedDomains/0", "at least two labels"],
  ["domain wildcard TLD", acme, (b) => (b.firewall.allowedDomains[0] = "*.com"), "/firewall/allowedDomains/0", "at least two labels after any leading '*.'"],
  ["domain label dash", acme, (b) => (b.firewall.allowedDomains[1] = "-api.acme.example"), "/firewall/allowedDomains/1", "not starting or ending with '-'"],
  ["domain empty label", acme, (b) => (b.firewall.allowedDomains[0] = "api..acme.example"), "/firewall/allowedDomains/0", "each label must be 1–63 characters"],
  ["domain label too long", acme, (b) => (b.firewall.allowedDomains[0] = `${"a".repeat(64)}.example`), "/firewall/allowedDomains/0", "1–63 characters"],
  ["domain underscore", acme, (b) => (b.firewall.allowedDomains[0] = "my_api.example.com"), "/firewall/allowedDomains/0", "a-z, 0-9 and '-'"],
  ["domain too long", acme, (b) => (b.firewall.allowedDomains[0] = `${range(5).map(() => "a".repeat(63)).join(".")}.com`), "/firewall/allowedDomains/0", "at most 253 characters"],
  ["domain is an IP", acme, (b) => (b.firewall.allowedDomains[0] = "10.0.0.1"), "/firewall/allowedDomains/0", "not an IP address"],
  ["domain trailing dot", acme, (b) => (b.firewall.allowedDomains[0] = "api.acme.example."), "/firewall/allowedDomains/0", "each label"],
  ["domains duplicate", acme, (b) => (b.firewall.allowedDomains[1] = b.firewall.allowedDomains[0]), "/firewall/allowedDomains/1", "duplicates the domain at index 0"],
  ["grantOperations empty", acme, (b) => (b.kms.grantOperations = []), "/kms/grantOperations", "at least 1 grant operations"],
  ["grantOperation not allowed", acme, (b) => (b.kms.grantOperations[0] = "CreateGrant"), "/kms/grantOperations/0", "must be one of: Encrypt, Decrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, DescribeKey"],
  ["grantOperations duplicate", acme, (b) => (b.kms.grantOperations[1] = "Encrypt"), "/kms/grantOperations/1", "duplicates the grant operation at index 0"],
  ["encryptionContext empty", acme, (b) => (b.kms.encryptionContext = {}), "/kms/encryptionContext", "must have 1–8 entries"],
  ["encryptionContext > 8", acme, (b) => (b.kms.encryptionContext = Object.fromEntries(range(9).map((i) => [`k${i}`, "v"]))), "/kms/encryptionContext", "must have 1–8 entries"],
  ["encryptionContext not an object", acme, (b) => (b.kms.encryptionContext = "saas:tenant=x"), "/kms/encryptionContext", "must be an object of string keys"],
  ["encryptionContext key chars", acme, (b) => (b.kms.encryptionContext["bad key!"] = "v"), "/kms/encryptionContext/bad key!", "key must be 1–64 characters of A-Z, a-z, 0-9, ':', '_' and '-'"],
  ["encryptionContext key too long", acme, (b) => (b.kms.encryptionContext["k".repeat(65)] = "v"), `/kms/encryptionContext/${"k".repeat(65)}`, "key must be 1–64"],
  ["encryptionContext key with slash", acme, (b) => (b.kms.encryptionContext["a/b~c"] = "v"), "/kms/encryptionContext/a~1b~0c", "key must be"],
  ["encryptionContext __proto__ key", acme, (b) => setOwn(b.kms.encryptionContext, "__proto__", "x"), "/kms/encryptionContext/__proto__", "'__proto__' is not allowed"],
  ["encryptionContext value empty", acme, (b) => (b.kms.encryptionContext["saas:tenant"] = ""), "/kms/encryptionContext/saas:tenant", "must be 1–256 characters"],
  ["encryptionContext value too long", acme, (b) => (b.kms.encryptionContext["saas:tenant"] = "v".repeat(257)), "/kms/encryptionContext/saas:tenant", "must be 1–256 characters"],
  ["encryptionContext value control", acme, (b) => (b.kms.encryptionContext["saas:tenant"] = "a\u0000b"), "/kms/encryptionContext/saas:tenant", "control"],
  ["encryptionContext value type", acme, (b) => (b.kms.encryptionContext["saas:tenant"] = 7), "/kms/encryptionContext/saas:tenant", "must be a string"],
  ["keyStore", acme, (b) => (b.kms.keyStore = "hsm"), "/kms/keyStore", "must be kms or cloudhsm"],
  ["expiresAt date only", acme, (b) => (b.expiresAt = "2027-06-30"), "/expiresAt", "ISO-8601 date-time with a UTC offset"],
  ["expiresAt without offset", acme, (b) => (b.expiresAt = "2027-06-30T00:00:00"), "/expiresAt", "with a UTC offset"],
  ["expiresAt number", acme, (b) => (b.expiresAt = 1_800_000_000), "/expiresAt", "must be a string"],
];

describe("ProviderSpec field rules", () => {
  it.each(cases)("%s → one error at the offending field", (_label, base, mutate, pointer, fragment) => {
    const body = base();
    mutate(body);
    const errors = errorsOf(body);
    expect(errors.map((e) => e.path)).toEqual([pointer]);
    expect(errors[0]!.message).toContain(fragment);
  });

  it("reports every independent mistake at once", () => {
    const body = acme();
    body.name = "Acme";
    body.outbound.allowedSourceCidrs[1] = "0.0.0.0/0";
    body.firewall.allowedDomains[0] = "*.*.x.com";
    body.kms.keyStore = "hsm";
    expect(errorsOf(body).map((e) => e.path)).toEqual([
      "/name",
      "/outbound/allowedSourceCidrs/1",
      "/firewall/allowedDomains/0",
      "/kms/keyStore",
    ]);
  });
});

describe("unknown fields", () => {
  const objects: readonly [string, () => Body, (b: Body) => object][] = [
    ["", acme, (b) => b],
    ["/owner", acme, (b) => b.owner],
    ["/bridgeAccount", acme, (b) => b.bridgeAccount],
    ["/bridgeAccount/create", globex, (b) => b.bridgeAccount.create],
    ["/provider", acme, (b) => b.provider],
    ["/outbound", acme, (b) => b.outbound],
    ["/outbound/ports/0", acme, (b) => b.outbound.ports[0]],
    ["/inbound", globex, (b) => b.inbound],
    ["/inbound/targets/1", globex, (b) => b.inbound.targets[1]],
    ["/inbound/tls", globex, (b) => b.inbound.tls],
    ["/firewall", acme, (b) => b.firewall],
    ["/kms", acme, (b) => b.kms],
  ];

  it.each(objects)("are rejected in %s", (pointer, base, pick) => {
    const body = base();
    setOwn(pick(body), "unexpected", true);
    expect(errorsOf(body)).toEqual([
      { path: `${pointer}/unexpected`, message: "is not a known field (unknown fields are rejected)", code: "unrecognized_keys" },
    ]);
  });

  it.each(["__proto__", "constructor", "prototype"])("%s is an unknown field, not a prototype change", (key) => {
    const body = JSON.parse(JSON.stringify(acme()).replace(/^\{/, `{"${key}":{"isAdmin":true},`)) as unknown;
    expect(errorsOf(body).map((e) => e.path)).toEqual([`/${key}`]);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });
});

describe("examples", () => {
  it.each(["acme.json", "globex.json"])("%s is valid against examples/landing-zone.json", (file) => {
    expect(errorsOf(readExample(file))).toEqual([]);
  });

  it("invalid.json fails with exactly the mistakes examples/README.md lists", () => {
    expect(errorsOf(readExample("invalid.json")).map((e) => e.path)).toEqual([
      "/bridgeAccount/accountId",
      "/outbound/endpointServiceName",
      "/outbound/allowedSourceCidrs/1",
      "/costCenter",
    ]);
  });

  it("applies defaults: privateDns true, keyStore kms", () => {
    const body = acme();
    delete body.outbound.privateDns;
    delete body.kms.keyStore;
    const spec = schema.parse(body);
    expect(spec.outbound.privateDns).toBe(true);
    expect(spec.kms.keyStore).toBe("kms");
  });

  it("accepts an expiresAt with a numeric offset and one in the past (the use case checks the clock)", () => {
    expect(errorsOf({ ...acme(), expiresAt: "2020-01-01T10:00:00.123+05:30" })).toEqual([]);
  });

  it("treats inbound.tls and expiresAt as optional", () => {
    const body = globex();
    delete body.inbound.tls;
    expect(errorsOf(body)).toEqual([]);
  });

  it("accepts unicode display names and emoji joined with ZWJ", () => {
    expect(errorsOf({ ...acme(), displayName: "株式会社 Zoë 👩‍💻" })).toEqual([]);
  });
});

describe("the schema as an API contract", () => {
  it("converts to JSON Schema for the OpenAPI document (request and response sides)", () => {
    const input = z.toJSONSchema(schema, { io: "input" }) as { additionalProperties?: unknown; required?: string[] };
    expect(input.additionalProperties).toBe(false);
    expect(input.required).toContain("bridgeAccount");
    expect(() => z.toJSONSchema(schema, { io: "output" })).not.toThrow();
  });

  it("is built per landing zone: its regions and org ranges are what the messages list", () => {
    const other = buildProviderSpecSchema({
      ...lz,
      organization: { ...lz.organization, orgCidrRanges: ["192.168.0.0/16"] },
      network: { ...lz.network, regions: { "us-east-1": lz.network.regions["eu-west-1"]! } },
    });
    const result = other.safeParse(acme());
    const errors = result.success ? [] : zodIssuesToFieldErrors(result.error.issues);
    expect(errors).toContainEqual(expect.objectContaining({ path: "/region", message: "must be one of the allowed regions: us-east-1" }));
  });

  it("checks CIDRs against the other landing zone's ranges", () => {
    const other = buildProviderSpecSchema({ ...lz, organization: { ...lz.organization, orgCidrRanges: ["192.168.0.0/16"] } });
    const result = other.safeParse(acme());
    const errors = result.success ? [] : zodIssuesToFieldErrors(result.error.issues);
    expect(errors.map((e) => e.path)).toEqual(["/outbound/allowedSourceCidrs/0", "/outbound/allowedSourceCidrs/1"]);
    expect(errors[0]!.message).toContain("192.168.0.0/16");
  });
});

describe("zodIssuesToFieldErrors", () => {
  it("caps the list and says how many were left out", () => {
    const body = acme();
    body.outbound.ports = Array.from({ length: 20 }, () => ({ port: 0, protocol: "icmp" }));
    const result = schema.safeParse(body);
    const errors = result.success ? [] : zodIssuesToFieldErrors(result.error.issues, { limit: 10 });
    expect(errors).toHaveLength(11);
    expect(errors[10]).toEqual({ path: "", message: expect.stringMatching(/^\d+ more errors not shown$/), code: "too_many_errors" });
  });

  it("points into the branch of a union the caller evidently chose", () => {
    const pointers = (bridgeAccount: unknown) => errorsOf({ ...acme(), bridgeAccount }).map((e) => `${e.path} ${e.message}`);
    expect(pointers({ accountId: 333333333333 })).toEqual(["/bridgeAccount/accountId must be of type string (received number)"]);
    expect(pointers({ create: "a@example.com" })).toEqual(["/bridgeAccount/create must be an object"]);
    expect(pointers({ create: {} })).toEqual(["/bridgeAccount/create/email is required"]);
    expect(pointers(null)[0]).toMatch(/^\/bridgeAccount must be either \{accountId\}/);
  });
});

describe("inbound.sourceCidrs: the SaaS's client addresses the NLB admits (issue 12, defect 5)", () => {
  const sourceCases: readonly Case[] = [
    ["sourceCidrs missing", globex, (b) => delete b.inbound.sourceCidrs, "/inbound/sourceCidrs", "is required"],
    ["sourceCidrs empty", globex, (b) => (b.inbound.sourceCidrs = []), "/inbound/sourceCidrs", "at least 1 CIDRs"],
    ["sourceCidrs > 50", globex, (b) => (b.inbound.sourceCidrs = range(51).map((i) => `100.64.${i}.0/24`)), "/inbound/sourceCidrs", "at most 50 CIDRs"],
    ["sourceCidr world", globex, (b) => (b.inbound.sourceCidrs[0] = "0.0.0.0/0"), "/inbound/sourceCidrs/0", "must not be open to the world"],
    ["sourceCidr wider than /16", globex, (b) => (b.inbound.sourceCidrs[0] = "100.64.0.0/10"), "/inbound/sourceCidrs/0", "must be /16 or narrower"],
    ["sourceCidr host bits", globex, (b) => (b.inbound.sourceCidrs[0] = "100.64.0.1/24"), "/inbound/sourceCidrs/0", "canonical form"],
    ["sourceCidr not a CIDR", globex, (b) => (b.inbound.sourceCidrs[0] = "100.64.0.1"), "/inbound/sourceCidrs/0", "canonical form"],
    ["sourceCidrs duplicate", globex, (b) => b.inbound.sourceCidrs.push(b.inbound.sourceCidrs[0]), `/inbound/sourceCidrs/1`, "duplicates the CIDR at index 0"],
  ];

  it.each(sourceCases)("%s → one error at the offending field", (_label, base, mutate, pointer, fragment) => {
    const body = base();
    mutate(body);
    const errors = errorsOf(body);
    expect(errors.map((e) => e.path)).toEqual([pointer]);
    expect(errors[0]!.message).toContain(fragment);
  });

  it("accepts client CIDRs outside the organization's ranges (they are the SaaS's addresses) down to /32", () => {
    const body = globex();
    body.inbound.sourceCidrs = ["100.64.0.0/16", "192.0.2.7/32"];
    expect(errorsOf(body)).toEqual([]);
    expect(schema.parse(body).inbound?.sourceCidrs).toEqual(["100.64.0.0/16", "192.0.2.7/32"]);
  });
});
