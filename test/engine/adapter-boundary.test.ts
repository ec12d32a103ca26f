import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * DESIGN §6 / issue #4: one module imports the Automation API, and only the engine child loads the
 * Pulumi engine (the service process never runs a CLI operation itself).
 */
const root = new URL("../../", import.meta.url).pathname;

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

async function importers(pattern: RegExp): Promise<string[]> {
  const files = [...(await sources(join(root, "src"))), ...(await sources(join(root, "programs")))];
  const hits: string[] = [];
  for (const file of files) if (pattern.test(await readFile(file, "utf8"))) hits.push(relative(root, file));
  return hits.sort();
}

describe("the Automation API boundary", () => {
  it("only src/engine/pulumi/automation.ts imports @pulumi/pulumi/automation", async () => {
    expect(await importers(/from\s+["']@pulumi\/pulumi\/automation|import\(["']@pulumi\/pulumi\/automation/)).toEqual(["src/engine/pulumi/automation.ts"]);
  });

  it("only the pulumi engine imports the adapter, and only the engine child loads the pulumi engine", async () => {
    expect(await importers(/from\s+["']\.\/automation\.js["']/)).toEqual(["src/engine/pulumi/event-map.ts", "src/engine/pulumi/pulumi-engine.ts"]);
    expect(await importers(/pulumi-engine\.js/)).toEqual(["src/engine/process/child-main.ts"]);
  });
});
