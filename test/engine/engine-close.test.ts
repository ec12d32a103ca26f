import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("./scripts/close-alone.ts", import.meta.url));

describe("closing a child engine", () => {
  it("waits for its killed spare to exit even when nothing else keeps the process alive (no exit 13 half-way)", async () => {
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", SCRIPT], { timeout: 60_000 }, (err, out) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout: out }),
      );
    });
    expect(stdout).toContain("closing");
    expect(stdout).toContain("closed");
    expect(code).toBe(0);
  }, 90_000);
});
