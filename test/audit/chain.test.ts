import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, toStorableJson, type JsonObject } from "../../src/audit/canonical-json.js";
import { canonicalTemplate, recordHash, type ChainedFields } from "../../src/audit/chain.js";
import { AuditAction, AuditOutcome, PrincipalKind, ResourceKind } from "../../src/audit/record.js";
import { createHash } from "node:crypto";

const text = fc.string({ unit: "binary", maxLength: 12 }).map((s) => toStorableJson(s) as string);
const object = fc.dictionary(text, fc.jsonValue({ maxDepth: 2, stringUnit: "binary" })).map((v) => toStorableJson(v) as JsonObject);
const fields: fc.Arbitrary<ChainedFields> = fc.record({
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  at: fc.date({ noInvalidDate: true, min: new Date(0), max: new Date("9999-12-31") }).map((d) => d.toISOString().replace("Z", "123Z")),
  action: fc.constantFrom(...AuditAction.options),
  outcome: fc.constantFrom(...AuditOutcome.options),
  principal: fc.record({ kind: fc.constantFrom(...PrincipalKind.options), id: text, name: text }, { requiredKeys: ["kind", "id"] }),
  resource: fc.record({ kind: fc.constantFrom(...ResourceKind.options), id: text }),
  requestId: fc.option(text, { nil: null }),
  sourceIp: fc.option(text, { nil: null }),
  details: object,
  sensitive: object,
});

describe("the chain's hash", () => {
  it("is SHA-256 over prev_hash ‖ before ‖ at ‖ middle ‖ seq ‖ after, the database's way of writing canonicalJson", () => {
    fc.assert(
      fc.property(fields, fc.stringMatching(/^[0-9a-f]{64}$/), (record, prev) => {
        const t = canonicalTemplate(record);
        const assembled = `${t.before}${record.at}${t.middle}${record.seq}${t.after}`;
        const { name, ...principal } = record.principal;
        const expected = canonicalJson({ ...record, principal: { ...principal, name: name ?? null } });
        expect(assembled).toBe(expected);
        expect(recordHash(prev, record)).toBe(createHash("sha256").update(prev + expected, "utf8").digest("hex"));
      }),
    );
  });

  it("changes with any field and with the previous hash", () => {
    fc.assert(
      fc.property(fields, fields, (a, b) => {
        fc.pre(canonicalJson({ ...a, principal: { ...a.principal } }) !== canonicalJson({ ...b, principal: { ...b.principal } }));
        expect(recordHash("0".repeat(64), a)).not.toBe(recordHash("0".repeat(64), b));
      }),
    );
    expect(recordHash("0".repeat(64), { ...sample() })).not.toBe(recordHash("1".repeat(64), sample()));
  });
});

function sample(): ChainedFields {
  return {
    seq: 1,
    at: "2026-12-01T00:00:00.000000Z",
    action: "provider.create",
    outcome: "allowed",
    principal: { kind: "apikey", id: "k" },
    resource: { kind: "provider", id: "p" },
    requestId: null,
    sourceIp: null,
    details: {},
    sensitive: {},
  };
}
