import { describe, expect, it } from "vitest";
import { LandingZoneSchema } from "../../src/onboarding/landing-zone.js";
import { readExample, type Body } from "./spec-fixtures.js";

/** Issue 12, defect 6 (S3.9): the landing zone names the log archive the trail buckets' access logs go to. */

const withArchive = (archive: unknown): Body => {
  const lz = readExample("landing-zone.json");
  lz.audit.accessLogArchive = archive;
  return lz;
};
const errorsOf = (body: unknown): string[] => {
  const result = LandingZoneSchema.safeParse(body);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};
const ARCHIVE = { bucket: "example-org-log-archive-eu-west-1", accountId: "444444444444", prefix: "s3-access-logs/" };

describe("landing zone: audit.accessLogArchive", () => {
  it("the example names its log archive", () => {
    expect(LandingZoneSchema.parse(readExample("landing-zone.json")).audit.accessLogArchive).toEqual(ARCHIVE);
  });

  it("is required: a landing zone without it (or without audit) is refused, naming the field", () => {
    const lz = readExample("landing-zone.json");
    delete lz.audit.accessLogArchive;
    expect(errorsOf(lz)).toEqual([expect.stringMatching(/^audit\.accessLogArchive: /)]);
    delete lz.audit;
    expect(errorsOf(lz)).toEqual([expect.stringMatching(/^audit: /)]);
  });

  it("defaults the prefix and accepts an empty one (logs at the archive's root, under the provider name)", () => {
    const { prefix: _prefix, ...noPrefix } = ARCHIVE;
    expect(LandingZoneSchema.parse(withArchive(noPrefix)).audit.accessLogArchive.prefix).toBe("s3-access-logs/");
    expect(errorsOf(withArchive({ ...ARCHIVE, prefix: "" }))).toEqual([]);
    expect(errorsOf(withArchive({ ...ARCHIVE, prefix: "org/s3_access.logs/" }))).toEqual([]);
  });

  it.each([
    [{ ...ARCHIVE, bucket: "Log_Archive" }, "audit.accessLogArchive.bucket"],
    [{ ...ARCHIVE, bucket: "ab" }, "audit.accessLogArchive.bucket"],
    [{ ...ARCHIVE, bucket: "192.168.5.4" }, "audit.accessLogArchive.bucket"],
    [{ ...ARCHIVE, bucket: "logs..archive" }, "audit.accessLogArchive.bucket"],
    [{ ...ARCHIVE, bucket: "xn--logs" }, "audit.accessLogArchive.bucket"],
    [{ ...ARCHIVE, bucket: "logs-s3alias" }, "audit.accessLogArchive.bucket"],
    [{ ...ARCHIVE, accountId: "4444" }, "audit.accessLogArchive.accountId"],
    [{ ...ARCHIVE, prefix: "no-slash" }, "audit.accessLogArchive.prefix"],
    [{ ...ARCHIVE, prefix: "/leading/" }, "audit.accessLogArchive.prefix"],
    [{ ...ARCHIVE, prefix: "a/../" }, "audit.accessLogArchive.prefix"],
    [{ ...ARCHIVE, extra: true }, "audit.accessLogArchive"],
  ])("refuses %j at %s", (archive, path) => {
    const errors = errorsOf(withArchive(archive));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.startsWith(`${path}: `)).toBe(true);
  });
});
