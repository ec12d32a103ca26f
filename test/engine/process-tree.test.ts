import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { descendantsOf, killTree } from "../../src/engine/process/process-tree.js";
import { alive } from "../helpers/processes.js";

/**
 * The shape the real Pulumi CLI gives an operation: the engine child leads a group, and a grandchild
 * (a plugin) runs in a group of its own, which a group kill does not reach.
 */
it("kills a process's whole tree, a descendant in another process group included", async () => {
  const leader = spawn("sh", ["-c", "setsid sleep 300 & echo $!; wait"], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
  const grandchild = await new Promise<number>((resolve) => leader.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim()))));
  try {
    expect(descendantsOf(leader.pid!)).toContain(grandchild);
    // The grandchild leads a group of its own (once setsid ran), which a group kill does not reach.
    const groupOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[2]);
    for (const until = Date.now() + 5_000; groupOf(grandchild) !== grandchild && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
    expect(groupOf(grandchild)).toBe(grandchild);
    expect(groupOf(leader.pid!)).toBe(leader.pid);
    killTree(leader.pid!, "SIGKILL");
    const deadline = Date.now() + 5_000;
    while ((alive(grandchild) || alive(leader.pid!)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect([alive(grandchild), alive(leader.pid!)]).toEqual([false, false]);
  } finally {
    for (const pid of [grandchild, leader.pid!]) if (alive(pid)) process.kill(pid, "SIGKILL");
  }
});
