import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditWriter } from "../../src/audit/append.js";
import { startHeadSigner } from "../../src/audit/head-signer.js";
import { verifyAudit } from "../../src/audit/verify.js";
import type { Queryable } from "../../src/store/db.js";
import type { PgliteDb } from "../../src/store/pglite.js";
import { createTestDb } from "../helpers/db.js";
import { within } from "../store/seed.js";
import { sampleInput, testKeys } from "./support.js";

const { hmacKey, privateKey, publicKey } = testKeys();
const audit = createAuditWriter({ hmacKey });

interface Line {
  level: number;
  msg: string;
  failures?: number;
  auditHead?: { seq: number; hash: string; signedAt: string; keyId: string; signature: string };
  err?: { message: string };
}

function captureLog(): { log: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n").filter(Boolean)) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { log: pino({ level: "debug" }, stream), lines };
}

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  await within(
    (async () => {
      while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
    5_000,
    what,
  );
}

describe("startHeadSigner", () => {
  let db: PgliteDb;
  beforeAll(async () => {
    db = await createTestDb();
  });
  afterAll(async () => {
    await db.close();
  });

  it("signs at once, then each new head, logs each new signature, and signs the final head on stop", async () => {
    const { log, lines } = captureLog();
    const signer = startHeadSigner({ db, key: privateKey, intervalMs: 20, log });
    const signed = (): Line[] => lines.filter((l) => l.msg === "audit head signed");
    await until("the first signature", () => signed().length === 1);
    expect(signed()[0]?.auditHead).toMatchObject({ seq: 0 });
    await db.transaction((tx) => audit.append(tx, sampleInput()));
    await until("the second signature", () => signed().length === 2);
    await new Promise((resolve) => setTimeout(resolve, 100)); // idle ticks sign nothing new
    expect(signed()).toHaveLength(2);
    await db.transaction((tx) => audit.append(tx, sampleInput()));
    await signer.stop();
    expect(signed().at(-1)?.auditHead).toMatchObject({ seq: 2 });
    expect(await verifyAudit(db, publicKey)).toMatchObject({ ok: true, records: 2, signedSeq: 2 });
    // The logged heads are anchors: the same signatures as the table's.
    const anchors = signed().map((l) => l.auditHead!);
    expect(await verifyAudit(db, publicKey, { anchors })).toMatchObject({ ok: true, signatures: 2 * anchors.length });
    const count = lines.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(lines).toHaveLength(count); // stopped: no more ticks
    await signer.stop(); // twice is fine
  });

  it("logs each failure once, never throws, and logs the recovery", async () => {
    const { log, lines } = captureLog();
    let failing = true;
    const flaky: Queryable = {
      query: async (sql, params) => {
        if (failing) throw new Error("connection refused");
        return db.query(sql, params);
      },
    };
    const signer = startHeadSigner({ db: flaky, key: privateKey, intervalMs: 10, log });
    await until("three failures", () => lines.filter((l) => l.msg === "audit head signing failed").length >= 3);
    const failures = lines.filter((l) => l.msg === "audit head signing failed");
    expect(failures.map((l) => l.failures)).toEqual(failures.map((_, i) => i + 1)); // one line per failed attempt
    expect(failures[0]).toMatchObject({ level: 50, err: { message: "connection refused" } });
    failing = false;
    await until("the recovery", () => lines.some((l) => l.msg === "audit head signing recovered"));
    await expect(signer.stop()).resolves.toBeUndefined();
  });

  it("bounds a hung signing, never starts a second one beside it, and stops without waiting for it", async () => {
    const { log, lines } = captureLog();
    let calls = 0;
    const hung: Queryable = {
      query: () => {
        calls++;
        return new Promise(() => undefined);
      },
    };
    const signer = startHeadSigner({ db: hung, key: privateKey, intervalMs: 5, log, timeoutMs: 30 });
    await until("the timeout and a skipped tick", () => lines.some((l) => l.err?.message.includes("has not finished yet")));
    expect(lines.find((l) => l.msg === "audit head signing failed")?.err?.message).toMatch(/did not finish within 30 ms/);
    expect(calls).toBe(1);
    await within(signer.stop(), 2_000, "stop");
  });

  it("refuses a nonsense interval", () => {
    expect(() => startHeadSigner({ db, key: privateKey, intervalMs: 0, log: captureLog().log })).toThrow(/intervalMs/);
  });
});
