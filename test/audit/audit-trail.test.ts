import { createHash, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { appendAudit, createAuditWriter } from "../../src/audit/append.js";
import { canonicalJson } from "../../src/audit/canonical-json.js";
import { GENESIS_HASH, recordHash } from "../../src/audit/chain.js";
import { listAudit, readAuditHead } from "../../src/audit/list.js";
import { auditHash } from "../../src/audit/sensitive.js";
import { headSigningPayload, SignatureRow, signHead } from "../../src/audit/signing.js";
import { verifyAudit, type AuditBreakReason } from "../../src/audit/verify.js";
import type { Db, Queryable } from "../../src/store/db.js";
import { insertProvider } from "../store/seed.js";
import { resetAudit, sampleInput, tamper, targets, testKeys } from "./support.js";

const { hmacKey, privateKey, publicKey } = testKeys();
const audit = createAuditWriter({ hmacKey });

describe.each(await targets())("audit trail: $name", (target) => {
  describe.skipIf(target.skipped !== undefined)(target.skipped ?? "runs", () => {
    let db: Db;
    beforeAll(async () => {
      db = await target.open();
    });
    afterAll(async () => {
      await db?.close();
    });
    beforeEach(async () => {
      await resetAudit(db);
    });

    /** `n` records, each in its own transaction, then the head signed. */
    const appendMany = async (n: number, signAt: readonly number[] = []): Promise<void> => {
      for (let i = 1; i <= n; i++) {
        await db.transaction((tx) => audit.append(tx, sampleInput()));
        if (signAt.includes(i)) await signHead(db, privateKey);
      }
    };
    const brokenAt = async (seq: number, reason: AuditBreakReason, options = {}): Promise<string> => {
      const result = await verifyAudit(db, publicKey, options);
      expect(result).toMatchObject({ ok: false, firstBroken: { seq, reason } });
      return result.ok ? "" : result.firstBroken.detail;
    };

    describe("append and verify", () => {
      it("verifies an empty trail, and a signed empty trail", async () => {
        expect(await verifyAudit(db, publicKey)).toEqual({ ok: true, records: 0, lastSeq: 0, lastHash: GENESIS_HASH, signedSeq: null, signatures: 0 });
        await signHead(db, privateKey);
        expect(await verifyAudit(db, publicKey)).toMatchObject({ ok: true, records: 0, signedSeq: 0, signatures: 1 });
      });

      it("returns what it stored, chained from the genesis hash, with a gap-free seq", async () => {
        const first = await db.transaction((tx) => audit.append(tx, sampleInput({ action: "provider.create", details: { z: 1, a: [true, null] } })));
        const second = await db.transaction((tx) => audit.append(tx, sampleInput({ outcome: "denied", requestId: null, sourceIp: null })));
        expect(first).toMatchObject({ seq: 1, prevHash: GENESIS_HASH, action: "provider.create", details: { z: 1, a: [true, null] } });
        expect(first.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        expect(second).toMatchObject({ seq: 2, prevHash: first.hash, outcome: "denied", requestId: null, sourceIp: null });
        expect(second.hash).toBe(recordHash(first.hash, second));
        const { records } = await listAudit(db, {});
        expect(records).toEqual([first, second]);
        expect(await readAuditHead(db)).toEqual({ seq: 2, hash: second.hash, lastSignedSeq: null, lastSignedAt: null });
      });

      it("hashes SHA-256(prev_hash ‖ canonical JSON of the fields), independently recomputed here", async () => {
        const r = await db.transaction((tx) =>
          audit.append(tx, {
            action: "apikey.create",
            outcome: "allowed",
            principal: { kind: "system", id: "bootstrap" },
            resource: { kind: "apikey", id: "sbk_1234" },
            requestId: null,
            sourceIp: null,
            details: { role: "admin", expiresInDays: 90 },
          }),
        );
        const fields =
          `{"action":"apikey.create","at":"${r.at}","details":{"expiresInDays":90,"role":"admin"},"outcome":"allowed",` +
          `"principal":{"id":"bootstrap","kind":"system","name":null},"requestId":null,"resource":{"id":"sbk_1234","kind":"apikey"},` +
          `"sensitive":{},"seq":1,"sourceIp":null}`;
        expect(r.hash).toBe(createHash("sha256").update(GENESIS_HASH + fields).digest("hex"));
      });

      it("verifies a signed chain read in small batches, and reports how much the signatures cover", async () => {
        await appendMany(25, [10, 20]);
        const queries: number[] = [];
        const counting: Queryable = {
          query: async (sql, params) => {
            const rows = await db.query(sql, params);
            queries.push(rows.length);
            return rows as never;
          },
        };
        const result = await verifyAudit(counting, publicKey, { batchSize: 4 });
        expect(result).toMatchObject({ ok: true, records: 25, lastSeq: 25, signedSeq: 20, signatures: 2 });
        expect(Math.max(...queries)).toBeLessThanOrEqual(4); // bounded: never more than a batch in memory
      });

      it("survives jsonb: any JSON details (odd strings, numbers, __proto__ keys) verify after the round trip", async () => {
        await fc.assert(
          fc.asyncProperty(fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), fc.jsonValue({ maxDepth: 3, stringUnit: "binary" }), { maxKeys: 5 }), async (details) => {
            const stored = await db.transaction((tx) => audit.append(tx, sampleInput({ details })));
            const [read] = (await listAudit(db, { order: "desc", limit: 1 })).records;
            expect(read).toEqual(stored);
            expect(canonicalJson(read?.details)).toBe(canonicalJson(stored.details));
          }),
          { numRuns: 60 },
        );
        expect(await verifyAudit(db, publicKey)).toMatchObject({ ok: true, records: 60 });
      });

      it("keeps a __proto__ key, at the top of details too (JSON and jsonb keep it; z.record would drop it)", async () => {
        const details = JSON.parse('{"__proto__": {"polluted": true}, "a": {"__proto__": 1}}') as Record<string, unknown>;
        const stored = await db.transaction((tx) => audit.append(tx, sampleInput({ details, sensitive: JSON.parse('{"__proto__": "x"}') })));
        expect(Object.keys(stored.details)).toEqual(["__proto__", "a"]);
        const [read] = (await listAudit(db, {})).records;
        expect(canonicalJson(read?.details)).toBe('{"__proto__":{"polluted":true},"a":{"__proto__":1}}');
        expect(Object.keys(read?.sensitive ?? {})).toEqual(["__proto__"]);
        expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
        expect(await verifyAudit(db, publicKey)).toMatchObject({ ok: true, records: 1 });
      });

      it("refuses details that are not plain JSON, and nothing is written", async () => {
        await expect(db.transaction((tx) => audit.append(tx, sampleInput({ details: { at: new Date() } })))).rejects.toThrow("details/at is a Date");
        await expect(db.transaction((tx) => audit.append(tx, sampleInput({ details: { n: Number.NaN } })))).rejects.toThrow("NaN");
        await expect(db.transaction((tx) => audit.append(tx, { ...sampleInput(), action: "provider.explode" } as never))).rejects.toThrow();
        await expect(db.transaction((tx) => audit.append(tx, { ...sampleInput(), sourceIP: "1.2.3.4" } as never))).rejects.toThrow(/sourceIP/);
        expect(await readAuditHead(db)).toMatchObject({ seq: 0 });
      });

      it("refuses UPDATE, DELETE and TRUNCATE of records and signatures (append-only triggers)", async () => {
        await appendMany(1, [1]);
        await expect(db.query("UPDATE audit_log SET outcome = 'denied'")).rejects.toThrow(/append-only/);
        await expect(db.query("DELETE FROM audit_log")).rejects.toThrow(/append-only/);
        await expect(db.query("TRUNCATE audit_log")).rejects.toThrow(/append-only/);
        await expect(db.query("DELETE FROM audit_signatures")).rejects.toThrow(/append-only/);
      });
    });

    describe("the same transaction as the change", () => {
      it("rolls back the change with a failing audit insert: no provider row, no record, head unchanged", async () => {
        await appendMany(2);
        await db.query("ALTER TABLE audit_log ADD CONSTRAINT test_refuse CHECK (action <> 'provider.create')");
        try {
          let providerName = "";
          const attempt = db.transaction(async (tx) => {
            providerName = await insertProvider(tx);
            await audit.append(tx, sampleInput({ action: "provider.create", resource: { kind: "provider", id: providerName } }));
          });
          await expect(attempt).rejects.toMatchObject({ code: "23514" });
          expect(await db.query("SELECT name FROM providers WHERE name = $1", [providerName])).toEqual([]);
          expect(await db.query("SELECT count(*)::int AS n FROM audit_log")).toEqual([{ n: 2 }]);
          expect(await readAuditHead(db)).toMatchObject({ seq: 2 });
        } finally {
          await db.query("ALTER TABLE audit_log DROP CONSTRAINT test_refuse");
        }
        // The seq the failed transaction took is given back: the chain stays gap-free.
        const next = await db.transaction((tx) => audit.append(tx, sampleInput()));
        expect(next.seq).toBe(3);
        expect(await verifyAudit(db, publicKey)).toMatchObject({ ok: true, records: 3 });
      });

      it("rolls back the record with a failing change after it", async () => {
        await expect(
          db.transaction(async (tx) => {
            await audit.append(tx, sampleInput());
            await tx.query("SELECT 1/0");
          }),
        ).rejects.toMatchObject({ code: "22012" });
        expect(await readAuditHead(db)).toMatchObject({ seq: 0 });
        expect(await db.query("SELECT count(*)::int AS n FROM audit_log")).toEqual([{ n: 0 }]);
      });
    });

    describe("sensitive values", () => {
      const CANARY = "canary-7f3e9c-s3cret";

      it("stores only keyed hashes of them, which auditHash finds again", async () => {
        await db.transaction((tx) =>
          audit.append(
            tx,
            sampleInput({
              details: {
                spec: { name: "acme", engine: { passphrase: CANARY }, tags: [{ k: "a", v: CANARY }, { k: "b", v: 7 }] },
                header: { authorization: `Bearer ${CANARY}` },
                note: "kept",
              },
              sensitivePaths: ["/spec/engine/passphrase", "/spec/tags/*/v", "/header", "/no/such/path"],
              sensitive: { apiKey: CANARY, nested: { pin: 1234, none: null } },
            }),
          ),
        );
        await signHead(db, privateKey);
        for (const table of ["audit_log", "audit_head", "audit_signatures"]) {
          const [dump] = await db.query<{ text: string }>(`SELECT coalesce(string_agg(t::text, '\n'), '') AS text FROM ${table} t`);
          expect(dump?.text).not.toContain(CANARY);
          expect(dump?.text).not.toContain("s3cret");
        }
        const [record] = (await listAudit(db, {})).records;
        const h = auditHash(hmacKey, CANARY);
        expect(h).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
        expect(record?.details).toEqual({
          spec: { name: "acme", engine: { passphrase: h }, tags: [{ k: "a", v: h }, { k: "b", v: auditHash(hmacKey, 7) }] },
          header: { authorization: auditHash(hmacKey, `Bearer ${CANARY}`) },
          note: "kept",
        });
        expect(record?.sensitive).toEqual({ apiKey: h, nested: { pin: audit.hash(1234), none: null } });
        // The admin look-up: which records carry this value?
        const found = await db.query("SELECT seq FROM audit_log WHERE details #>> '{spec,engine,passphrase}' = $1", [audit.hash(CANARY)]);
        expect(found).toEqual([{ seq: 1 }]);
        expect(await verifyAudit(db, publicKey)).toMatchObject({ ok: true, records: 1 });
      });

      it("hashes with the key: another key gives another hash", () => {
        expect(auditHash(testKeys().hmacKey, CANARY)).not.toBe(auditHash(hmacKey, CANARY));
        expect(auditHash(hmacKey, 42)).toBe(auditHash(hmacKey, "42"));
      });
    });

    describe("tampering is reported at the first broken link", () => {
      beforeEach(async () => {
        await appendMany(10, [4, 8]);
        expect(await verifyAudit(db, publicKey)).toMatchObject({ ok: true, records: 10, signedSeq: 8 });
      });

      it.each([
        ["outcome", "UPDATE audit_log SET outcome = 'denied' WHERE seq = 6"],
        ["details", `UPDATE audit_log SET details = details || '{"n": 999}' WHERE seq = 6`],
        ["principal", "UPDATE audit_log SET principal_id = 'someone-else' WHERE seq = 6"],
        ["time (by a microsecond)", "UPDATE audit_log SET at = at + interval '1 microsecond' WHERE seq = 6"],
        ["request id to null", "UPDATE audit_log SET request_id = NULL WHERE seq = 6"],
        ["its hash", "UPDATE audit_log SET hash = repeat('a', 64) WHERE seq = 6"],
      ])("a changed %s: changed", async (_, sql) => {
        await tamper(db, sql);
        expect(await brokenAt(6, "changed")).toMatch(/record 6 hashes to/);
      });

      it("a changed record whose hash was recomputed (and the next link fixed): rewritten, caught by the signature", async () => {
        const [row] = (await listAudit(db, { after: "5", limit: 1 })).records;
        if (row === undefined) throw new Error("no record 6");
        const forged = { ...row, outcome: "denied" as const };
        const forgedHash = recordHash(row.prevHash, forged);
        await tamper(db, "UPDATE audit_log SET outcome = 'denied', hash = $1 WHERE seq = 6", [forgedHash]);
        // Re-hash the rest of the chain as an attacker without the signing key would.
        let prev = forgedHash;
        let last = row.prevHash;
        for (const r of (await listAudit(db, { after: "6" })).records) {
          last = prev;
          const h = recordHash(prev, r);
          await tamper(db, "UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3", [prev, h, r.seq]);
          prev = h;
        }
        await tamper(db, "UPDATE audit_head SET hash = $1, prev_hash = $2", [prev, last]);
        expect(await brokenAt(5, "rewritten")).toMatch(/signed at seq 8 .* re-hashed/);
      });

      it("a deleted middle record: missing", async () => {
        await tamper(db, "DELETE FROM audit_log WHERE seq = 5");
        expect(await brokenAt(5, "missing")).toBe("record 5 is missing: seq goes from 4 to 6");
        await tamper(db, "DELETE FROM audit_log WHERE seq = 6");
        expect(await brokenAt(5, "missing")).toBe("records 5–6 are missing: seq goes from 4 to 7");
      });

      it("a deleted batch, read in batches of 4: missing, and found without scanning the empty range", async () => {
        await tamper(db, "DELETE FROM audit_log WHERE seq BETWEEN 5 AND 8");
        expect(await brokenAt(5, "missing", { batchSize: 4 })).toBe("records 5–8 are missing: seq goes from 4 to 9");
      });

      it("a record planted far beyond the head: reported at once, not after a walk through the empty seqs", async () => {
        await tamper(
          db,
          `INSERT INTO audit_log SELECT 1000000000000, at, action, outcome, principal_kind, principal_id, principal_name, resource_kind,
                  resource_id, request_id, source_ip, details, sensitive, prev_hash, hash FROM audit_log WHERE seq = 10`,
        );
        expect(await brokenAt(11, "missing", { batchSize: 4 })).toBe("records 11–999999999999 are missing: seq goes from 10 to 1000000000000");
        await tamper(db, "UPDATE audit_log SET seq = 9223372036854775807 WHERE seq = 1000000000000");
        expect(await brokenAt(11, "missing")).toMatch(/^records 11–\d+ are missing/); // beyond 2^53: reported, not thrown
      });

      it("a deleted middle record with the rest renumbered: broken-link", async () => {
        await tamper(db, "DELETE FROM audit_log WHERE seq = 5; UPDATE audit_log SET seq = seq - 1 WHERE seq > 5");
        await brokenAt(5, "broken-link");
      });

      it("two records swapped (seq exchanged): reordered", async () => {
        // Through a free range: seq is a primary key, and must stay positive.
        await tamper(db, "UPDATE audit_log SET seq = seq + 1000 WHERE seq IN (6, 7)");
        await tamper(db, "UPDATE audit_log SET seq = CASE seq WHEN 1006 THEN 7 ELSE 6 END WHERE seq IN (1006, 1007)");
        expect(await brokenAt(6, "reordered")).toBe("record 6 links to record 7 instead of record 5");
      });

      it("the tail deleted: truncated (the head row is ahead)", async () => {
        await tamper(db, "DELETE FROM audit_log WHERE seq > 7");
        expect(await brokenAt(8, "truncated")).toMatch(/covers seq 8, the last record is 7/);
        await tamper(db, "DELETE FROM audit_log WHERE seq = 7");
        await brokenAt(7, "truncated");
      });

      it("the tail deleted beyond the last signature: truncated by the head row", async () => {
        await tamper(db, "DELETE FROM audit_log WHERE seq > 9");
        expect(await brokenAt(10, "truncated")).toBe("the head row is at seq 10, the last record is 9");
      });

      it("the tail deleted with the head row made consistent: truncated, caught by the signature", async () => {
        const [seven] = (await listAudit(db, { after: "6", limit: 1 })).records;
        await tamper(db, "DELETE FROM audit_log WHERE seq > 7");
        await tamper(db, "UPDATE audit_head SET seq = 7, hash = $1, prev_hash = $2", [seven?.hash, seven?.prevHash]);
        expect(await brokenAt(8, "truncated")).toMatch(/a valid head signed at .* covers seq 8, the last record is 7/);
        // …and regrown: new records take the old seqs, the signature at 8 now names another hash.
        await appendMany(3);
        await brokenAt(5, "rewritten");
      });

      it("cut together with the head row and every later signature: only an anchor from outside sees it", async () => {
        // The signer logged this head when it made it ("audit head signed"): a copy outside the database.
        const anchors = (await db.query("SELECT seq, hash, signed_at, key_id, signature FROM audit_signatures WHERE seq = 8")).map((r) => SignatureRow.parse(r));
        const [three] = (await listAudit(db, { after: "2", limit: 1 })).records;
        await tamper(db, "DELETE FROM audit_log WHERE seq > 3; DELETE FROM audit_signatures WHERE seq > 3");
        await tamper(db, "UPDATE audit_head SET seq = 3, hash = $1, prev_hash = $2", [three?.hash, three?.prevHash]);
        expect(await verifyAudit(db, publicKey)).toMatchObject({ ok: true, records: 3, signedSeq: null });
        await brokenAt(4, "truncated", { anchors });
      });

      it("a forged signature: bad-signature", async () => {
        await tamper(db, "UPDATE audit_signatures SET signature = $1 WHERE seq = 8", [Buffer.alloc(64, 7).toString("base64")]);
        expect(await brokenAt(8, "bad-signature")).toMatch(/does not verify/);
      });

      it("a head signed by another key under our key id, or under its own: bad-signature", async () => {
        const other = generateKeyPairSync("ed25519").privateKey;
        const [row] = await db.query<{ hash: string; key_id: string }>("SELECT hash, key_id FROM audit_signatures WHERE seq = 4");
        const head = { seq: 4, hash: row?.hash ?? "", signedAt: new Date().toISOString(), keyId: row?.key_id ?? "" };
        const forged = sign(null, headSigningPayload(head), other).toString("base64");
        await tamper(db, "UPDATE audit_signatures SET signature = $1, signed_at = $2 WHERE seq = 4", [forged, head.signedAt]);
        await brokenAt(4, "bad-signature");
        await resetAudit(db);
        await appendMany(2);
        await signHead(db, other);
        expect(await brokenAt(2, "bad-signature")).toMatch(/not one of the verifying keys/);
        // With both public keys (a rotated key) it verifies.
        expect(await verifyAudit(db, [publicKey, createPublicKey(other)])).toMatchObject({ ok: true, signedSeq: 2 });
      });

      it("a signature moved to another seq: bad-signature (the seq is signed)", async () => {
        await tamper(db, "UPDATE audit_signatures SET seq = 9, hash = (SELECT hash FROM audit_log WHERE seq = 9) WHERE seq = 8");
        await brokenAt(9, "bad-signature");
      });

      it("a record appended around appendAudit (head row not moved): head-mismatch", async () => {
        const [ten] = (await listAudit(db, { after: "9" })).records;
        if (ten === undefined) throw new Error("no record 10");
        const extra = { ...ten, seq: 11 };
        await db.query(
          `INSERT INTO audit_log (seq, at, action, outcome, principal_kind, principal_id, principal_name, resource_kind, resource_id,
                                  request_id, source_ip, details, sensitive, prev_hash, hash)
           SELECT 11, at, action, outcome, principal_kind, principal_id, principal_name, resource_kind, resource_id,
                  request_id, source_ip, details, sensitive, hash, $1 FROM audit_log WHERE seq = 10`,
          [recordHash(ten.hash, extra)],
        );
        expect(await brokenAt(11, "head-mismatch")).toMatch(/head row \(seq 10/);
      });
    });

    describe("listAudit", () => {
      it("pages with a cursor in both orders, and filters", async () => {
        for (let i = 0; i < 7; i++) {
          // Records carry `at` to the millisecond (the column has microseconds): two records in one
          // millisecond would both match a `since` taken from the second one's `at`.
          if (i > 0) await new Promise((resolve) => setTimeout(resolve, 3));
          await db.transaction((tx) =>
            audit.append(
              tx,
              sampleInput({
                action: i % 2 === 0 ? "provider.update" : "auth.denied",
                outcome: i % 2 === 0 ? "allowed" : "denied",
                principal: { kind: i % 2 === 0 ? "apikey" : "anonymous", id: i % 2 === 0 ? "key-1" : "anonymous" },
                resource: i % 2 === 0 ? { kind: "provider", id: `p${i % 3}` } : { kind: "route", id: "POST /v1/providers" },
              }),
            ),
          );
        }
        const seqs = async (q: Parameters<typeof listAudit>[1]): Promise<{ seqs: number[]; next: string | null }> => {
          const page = await listAudit(db, q);
          return { seqs: page.records.map((r) => r.seq), next: page.nextCursor };
        };
        expect(await seqs({ limit: 3 })).toEqual({ seqs: [1, 2, 3], next: "3" });
        expect(await seqs({ limit: 3, after: "3" })).toEqual({ seqs: [4, 5, 6], next: "6" });
        expect(await seqs({ limit: 3, after: "6" })).toEqual({ seqs: [7], next: null });
        expect(await seqs({ limit: 4, order: "desc" })).toEqual({ seqs: [7, 6, 5, 4], next: "4" });
        expect(await seqs({ limit: 4, order: "desc", after: "4" })).toEqual({ seqs: [3, 2, 1], next: null });
        expect(await seqs({ action: "auth.denied" })).toEqual({ seqs: [2, 4, 6], next: null });
        expect(await seqs({ outcome: "denied", limit: 2 })).toEqual({ seqs: [2, 4], next: "4" });
        expect(await seqs({ principalId: "key-1", resourceId: "p0" })).toEqual({ seqs: [1, 7], next: null });
        expect(await seqs({ resourceKind: "route", after: "2" })).toEqual({ seqs: [4, 6], next: null });
        const all = (await listAudit(db, {})).records;
        const fourth = all[3]?.at ?? "";
        expect(await seqs({ since: fourth })).toMatchObject({ seqs: [4, 5, 6, 7] });
        expect(await seqs({ until: fourth })).toMatchObject({ seqs: [1, 2, 3] });
        expect(await seqs({ since: "2999-01-01T00:00:00Z" })).toEqual({ seqs: [], next: null });
      });

      it("refuses a limit over 500, a bad cursor and unknown filters", async () => {
        await expect(listAudit(db, { limit: 501 })).rejects.toThrow();
        await expect(listAudit(db, { after: "-1" })).rejects.toThrow(/cursor/);
        await expect(listAudit(db, { action: "nope" } as never)).rejects.toThrow();
        await expect(listAudit(db, { principal: "x" } as never)).rejects.toThrow();
        expect(await listAudit(db, { limit: "500" as never })).toEqual({ records: [], nextCursor: null });
      });
    });

    describe("signHead", () => {
      it("signs a new head once (an idle trail gains no rows), and a moved head again", async () => {
        await appendMany(2);
        const first = await signHead(db, privateKey);
        expect(first).toMatchObject({ seq: 2, created: true });
        expect(await signHead(db, privateKey)).toEqual({ ...first, created: false });
        await appendMany(1);
        expect(await signHead(db, privateKey)).toMatchObject({ seq: 3, created: true });
        expect(await readAuditHead(db)).toMatchObject({ seq: 3, lastSignedSeq: 3 });
        expect(await db.query("SELECT count(*)::int AS n FROM audit_signatures")).toEqual([{ n: 2 }]);
      });
    });
  });
});
