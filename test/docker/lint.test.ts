import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validate } from "dockerfile-utils";
import { afterAll, describe, expect, it } from "vitest";

/** `npm run lint:docker` (part of `npm test`) runs this CLI on the Dockerfile; these prove it can fail. */
const root = new URL("../../", import.meta.url).pathname;
const cli = join(root, "node_modules/dockerfile-utils/bin/dockerfile-utils");
const work = mkdtempSync(join(tmpdir(), "dockerfile-lint-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function lint(path: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [cli, "lint", path], { encoding: "utf8", timeout: 20_000 });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe("Dockerfile lint", () => {
  it("passes on the Dockerfile (the positive control for the failures below)", () => {
    expect(lint(join(root, "Dockerfile"))).toEqual({ status: 0, output: "" });
  });

  it.each([
    ["an unknown flag", "HEALTHCHECK --intervl=15s CMD true", "Unknown flag: intervl"],
    ["a duration without a unit", "HEALTHCHECK --interval=15 CMD true", "missing unit in duration"],
    ["an unknown instruction", "RUNN npm ci", "Unknown instruction: RUNN"],
    ["an instruction without arguments", "USER", "Instruction has no arguments"],
  ])("fails on %s", (_what, line, message) => {
    const path = join(work, "Dockerfile");
    writeFileSync(path, `FROM node:20.20-bookworm-slim\n${line}\nCMD ["node"]\n`);
    const r = lint(path);
    expect(r.status).toBe(1);
    expect(r.output).toContain(message);
  });

  // The CLI exits non-zero on errors only; warnings (a second CMD, deprecated MAINTAINER, empty
  // continuation lines, lowercase instructions) are held to zero here.
  it("reports no warnings either", () => {
    expect(validate(readFileSync(join(root, "Dockerfile"), "utf8"))).toEqual([]);
  });

  it("does report warnings, which the CLI alone would let through", () => {
    const twoCmds = "FROM node:20.20-bookworm-slim\nCMD [\"a\"]\nCMD [\"b\"]\n";
    expect(validate(twoCmds).map((d) => d.message)).toEqual([expect.stringContaining("only be one CMD")]);
    const path = join(work, "Dockerfile.warn");
    writeFileSync(path, twoCmds);
    expect(lint(path).status).toBe(0);
  });
});
