import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/logger.js";

describe("log redaction", () => {
  it("never writes authorization headers, tokens, passwords or passphrases", () => {
    const lines: string[] = [];
    const log = createLogger("info", new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }));
    const canary = "canary-7f3a9c";
    log.info({ req: { headers: { authorization: `Bearer ${canary}`, cookie: canary } } }, "request");
    log.info({ engine: { passphrase: canary }, key: { token: canary }, db: { password: canary } }, "config");
    expect(lines).toHaveLength(2);
    expect(lines.join("")).not.toContain(canary);
    expect(lines.join("")).toContain("[redacted]");
  });
});
