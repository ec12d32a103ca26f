import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { strFromU8, strToU8, unzipSync, zipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildEvidencePack } from "../../../src/audit/receipts/evidence-pack.js";
import { trustedKeysFromJwks, type TrustedKeys } from "../../../src/audit/receipts/jwks.js";
import { buildManifest, signManifest, MANIFEST_PATH, MANIFEST_SIGNATURE_PATH, type EvidenceManifest } from "../../../src/audit/receipts/manifest.js";
import { MANIFEST_PARTS, verifyEvidencePack } from "../../../src/audit/receipts/verify-pack.js";
import { specNamed, startTestService, type TestService } from "../../helpers/service.js";
import { finishWithReceipt } from "./support.js";

/** GET /v1/providers/:name/evidence (issue 17): the pack verifies offline, and any tampering is named. */
let svc: TestService;
let trusted: TrustedKeys;
let jwksText = "";
let pack: Uint8Array;
let operations: string[] = [];
const PROVIDER = "evidence-a";

beforeAll(async () => {
  // Every operation needs a second person here, so the pack has approvals with who and when.
  svc = await startTestService({ start: false, config: { APPROVAL_RULES: ["all"] } });
  const approver = `Bearer ${await svc.createKey("approver", ["alpha"], "second-person")}`;
  const spec = { ...specNamed(PROVIDER), owner: { team: "alpha", contact: "alpha@example.com" } };
  const created = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: spec });
  expect(created.statusCode, created.body).toBe(202);
  const op = (created.json() as { operation: { id: string; specHash: string } }).operation;
  const approved = await svc.app.inject({ method: "POST", url: `/v1/operations/${op.id}/approve`, headers: { authorization: approver }, payload: { specHash: op.specHash } });
  expect(approved.statusCode, approved.body).toBe(200);
  await finishWithReceipt(svc.db, svc.keys, op.id);
  // Another provider's records are interleaved in the chain: the pack carries them only where the chain needs them.
  const other = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: { ...specNamed("evidence-b"), owner: { team: "beta", contact: "b@example.com" } } });
  expect(other.statusCode).toBe(202);
  await svc.db.query(`UPDATE providers SET lifecycle = 'active' WHERE name = $1`, [PROVIDER]);
  const revoke = await svc.app.inject({ method: "POST", url: `/v1/providers/${PROVIDER}/revoke`, payload: {} });
  expect(revoke.statusCode, revoke.body).toBe(202);
  const revokeOp = (revoke.json() as { operation: { id: string; specHash: string } }).operation;
  await svc.app.inject({ method: "POST", url: `/v1/operations/${revokeOp.id}/approve`, headers: { authorization: approver }, payload: { specHash: revokeOp.specHash } });
  await finishWithReceipt(svc.db, svc.keys, revokeOp.id);
  operations = [op.id, revokeOp.id];

  jwksText = (await svc.app.inject({ method: "GET", url: "/v1/keys", headers: { authorization: "" } })).body;
  trusted = trustedKeysFromJwks(JSON.parse(jwksText));
  const auditor = `Bearer ${await svc.createKey("auditor", [])}`;
  const res = await svc.app.inject({ method: "GET", url: `/v1/providers/${PROVIDER}/evidence`, headers: { authorization: auditor } });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers["content-type"]).toBe("application/zip");
  pack = new Uint8Array(res.rawPayload);
});
afterAll(() => svc.close(1_000));

const files = (zip: Uint8Array) => unzipSync(zip);
const rezip = (entries: Record<string, Uint8Array>) => zipSync(entries);
const json = (bytes: Uint8Array | undefined) => JSON.parse(strFromU8(bytes!)) as any;

describe("the evidence pack", () => {
  it("holds spec history, approvals, receipts, audit records, the chain, the verification and the keys; it verifies offline", () => {
    const entries = files(pack);
    expect(Object.keys(entries).sort()).toEqual(
      [
        "approvals.json",
        "audit/chain.json",
        "audit/records.json",
        "keys.json",
        MANIFEST_PATH,
        MANIFEST_SIGNATURE_PATH,
        ...operations.map((id) => `receipts/${id}.json`),
        "spec-history.json",
        "verification.json",
      ].sort(),
    );
    const history = json(entries["spec-history.json"]);
    expect(history.map((h: any) => [h.operationId, h.intent])).toEqual([
      [operations[0], "create"],
      [operations[1], "revoke"],
    ]);
    expect(history[0].requestedBy).toMatchObject({ kind: "apikey", name: "test-admin" });
    const approvals = json(entries["approvals.json"]);
    expect(approvals).toHaveLength(2);
    expect(approvals[0]).toMatchObject({ status: "approved", decidedByName: "second-person", requestedByName: "test-admin" });
    expect(json(entries["verification.json"])).toMatchObject({ operationId: operations[1], verification: { status: "passed" } });
    const records = json(entries["audit/records.json"]) as { resource: { kind: string; id: string } }[];
    expect(records.some((r) => r.resource.kind === "operation" && r.resource.id === operations[1])).toBe(true);
    expect(records.every((r) => (r.resource.kind === "provider" ? r.resource.id === PROVIDER : operations.includes(r.resource.id)))).toBe(true);

    const result = verifyEvidencePack(pack, trusted);
    expect(result).toMatchObject({ ok: true, summary: { provider: PROVIDER, receipts: 2 } });
    if (result.ok) expect(result.summary.chainRecords).toBeGreaterThanOrEqual(result.summary.auditRecords);
    // No private key material anywhere in it.
    for (const [path, bytes] of Object.entries(entries)) expect(strFromU8(bytes), path).not.toMatch(/PRIVATE KEY|"d":/);
  });

  it("flipping one byte of ANY file fails, naming that file", () => {
    const entries = files(pack);
    for (const path of Object.keys(entries)) {
      const bytes = new Uint8Array(entries[path]!);
      // A byte inside a JSON string (after the first quote), so the file stays readable and only its content changes.
      const at = bytes.indexOf(0x22) + 2;
      bytes[at] = bytes[at]! ^ 0x01;
      const result = verifyEvidencePack(rezip({ ...entries, [path]: bytes }), trusted);
      expect(result.ok, path).toBe(false);
      if (!result.ok) expect(result.problems.map((p) => p.part.split(" / ")).flat(), path).toContain(path);
    }
  });

  it("a deleted file and an added file are named", () => {
    const entries = files(pack);
    const receipt = `receipts/${operations[0]}.json`;
    const { [receipt]: _removed, ...without } = entries;
    const deleted = verifyEvidencePack(rezip(without), trusted);
    expect(deleted).toMatchObject({ ok: false, problems: [{ part: receipt, detail: expect.stringMatching(/missing/) }] });
    const added = verifyEvidencePack(rezip({ ...entries, "receipts/extra.json": strToU8("{}") }), trusted);
    expect(added).toMatchObject({ ok: false });
    if (!added.ok) expect(added.problems.map((p) => p.part)).toContain("receipts/extra.json");
  });

  it("an audit record edited consistently with a recomputed manifest, without the key, fails at the manifest signature", () => {
    const entries = files(pack);
    const records = json(entries["audit/records.json"]);
    records[0].details = { ...records[0].details, note: "never happened" };
    const edited: Record<string, Uint8Array> = { ...entries, "audit/records.json": strToU8(JSON.stringify(records, null, 2)) };
    const manifest = json(entries[MANIFEST_PATH]) as EvidenceManifest;
    const rest = new Map(Object.entries(edited).filter(([p]) => p !== MANIFEST_PATH && p !== MANIFEST_SIGNATURE_PATH));
    edited[MANIFEST_PATH] = strToU8(JSON.stringify(buildManifest(PROVIDER, manifest.generatedAt, rest)));
    const result = verifyEvidencePack(rezip(edited), trusted);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems[0]).toMatchObject({ part: MANIFEST_PARTS, detail: expect.stringMatching(/manifest signature/) });
      // The record no longer matches the chain either.
      expect(result.problems.some((p) => p.part === "audit/records.json" && p.detail.includes(`record ${records[0].seq}`))).toBe(true);
    }
  });

  it("a record changed in the chain file is found by its hash and named by its seq (even under a valid manifest)", () => {
    const entries = files(pack);
    const chain = json(entries["audit/chain.json"]);
    const record = chain.segments[0].records[0];
    record.outcome = "denied";
    const edited: Record<string, Uint8Array> = { ...entries, "audit/chain.json": strToU8(JSON.stringify(chain)) };
    // Re-signed with the service's own key: isolates the chain check from the manifest's.
    const rest = new Map(Object.entries(edited).filter(([p]) => p !== MANIFEST_PATH && p !== MANIFEST_SIGNATURE_PATH));
    const manifest = buildManifest(PROVIDER, new Date().toISOString(), rest);
    edited[MANIFEST_PATH] = strToU8(JSON.stringify(manifest));
    edited[MANIFEST_SIGNATURE_PATH] = strToU8(JSON.stringify(signManifest(manifest, svc.keys.auditSigning)));
    const result = verifyEvidencePack(rezip(edited), trusted);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems[0]).toMatchObject({ part: "audit/chain.json", detail: expect.stringContaining(`record ${record.seq} was changed`) });
  });

  it("a viewer is refused the pack (403); an unknown provider is a 404; past its bound the pack is refused, not cut", async () => {
    const viewer = `Bearer ${await svc.createKey("viewer", ["alpha"])}`;
    expect((await svc.app.inject({ method: "GET", url: `/v1/providers/${PROVIDER}/evidence`, headers: { authorization: viewer } })).statusCode).toBe(403);
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers/nobody-here/evidence" })).statusCode).toBe(404);
    const tooMany = buildEvidencePack(svc.db, PROVIDER, { signingKey: svc.keys.auditSigning, verifyKeys: svc.keys.auditVerify, limits: { maxOperations: 1, maxChainRecords: 1_000 } });
    await expect(tooMany).rejects.toMatchObject({ code: "EVIDENCE_TOO_LARGE", message: expect.stringMatching(/more than 1 operations/) });
    const tooLong = buildEvidencePack(svc.db, PROVIDER, { signingKey: svc.keys.auditSigning, verifyKeys: svc.keys.auditVerify, limits: { maxOperations: 10, maxChainRecords: 2 } });
    await expect(tooLong).rejects.toMatchObject({ code: "EVIDENCE_TOO_LARGE" });
  });

  it("the command line: 0 for a valid pack, 1 naming the part for a tampered one, 2 without trusted keys; the pack's keys only with a warning", () => {
    const dir = mkdtempSync(join(tmpdir(), "evidence-"));
    try {
      writeFileSync(join(dir, "keys.json"), jwksText);
      writeFileSync(join(dir, "pack.zip"), pack);
      const entries = files(pack);
      const receipt = `receipts/${operations[1]}.json`;
      writeFileSync(join(dir, "receipt.json"), strFromU8(entries[receipt]!).replace('"revoke"', '"create"'));
      const run = (...args: string[]) => spawnSync("npx", ["tsx", "tools/verify-receipt.ts", ...args], { encoding: "utf8", timeout: 60_000 });
      const valid = run(join(dir, "pack.zip"), "--keys", join(dir, "keys.json"));
      expect(valid.status, valid.stderr).toBe(0);
      expect(valid.stdout).toMatch(/^VALID evidence pack of provider evidence-a/);
      const tampered = run(join(dir, "receipt.json"), "--keys", join(dir, "keys.json"));
      expect(tampered.status, tampered.stderr).toBe(1);
      expect(tampered.stdout).toMatch(/INVALID .*receipt\.json: .*does not verify/);
      const usage = run(join(dir, "pack.zip"));
      expect(usage.status).toBe(2);
      expect(usage.stderr).toMatch(/no trusted keys/);
      // The pack's own keys only on request, and with a warning.
      const own = run(join(dir, "pack.zip"), "--trust-pack-keys");
      expect(own.status, own.stderr).toBe(0);
      expect(own.stderr).toMatch(/WARNING: trusting the keys inside the pack/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
