import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { specNamed } from "../helpers/service.js";
import { alive } from "../helpers/processes.js";
import { startServerProcess, type ServerProcess } from "../helpers/server-process.js";

/**
 * Spawns the real server (src/main.ts), SIGKILLs it while an operation runs, restarts it on the same
 * data dir, and checks what a platform engineer would after a node crash.
 */
type Json = Record<string, any>;
const servers: ServerProcess[] = [];
const dataDirs: string[] = [];

afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null) s.child.kill("SIGKILL");
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
});

async function startServer(dir: string, extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess(dir, { LEASE_SECONDS: "5", SIMULATED_STEP_MS: "250", ...extraEnv });
  servers.push(server);
  Object.assign(auth, server.auth);
  return server;
}

/** The development admin key of the server under test (the same data dir keeps the same key). */
const auth: Record<string, string> = {};

async function getJson(url: string): Promise<Json> {
  return (await (await fetch(url, { headers: auth })).json()) as Json;
}

async function poll<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each([
  { where: "in the service process", env: {} },
  { where: "in engine children", env: { ENGINE_PROCESS: "child" } },
])("crash recovery (real process, SIGKILL), operations $where", ({ env }) => {
  it("an operation running at SIGKILL resumes by itself after restart (same id, attempt 2, stack recovered first), its events intact", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-crash-"));
    dataDirs.push(dataDir);
    const first = await startServer(dataDir, env);
    const created = (await (
      await fetch(`${first.base}/v1/providers`, { method: "POST", headers: { "content-type": "application/json", ...auth }, body: JSON.stringify(specNamed("crashy")) })
    ).json()) as Json;
    const id = created.operation.id as string;

    // Kill once a few resources have completed and cloud resources are in flight (components take no time).
    const before = await poll(async () => {
      const page = await getJson(`${first.base}/v1/operations/${id}/events?limit=1000`);
      const count = (type: string) => page.items.filter((e: Json) => e.type === type).length;
      return count("resource.completed") >= 3 && count("resource.started") > count("resource.completed") ? (page.items as Json[]) : undefined;
    }, 30_000, "resources to complete");
    first.child.kill("SIGKILL");
    await new Promise((r) => first.child.once("exit", r));
    // Orphaned engine children stop and kill their process group before the lease expires (5 s here).
    const childPids = [...first.output().matchAll(/"engineChild":(\d+),"envKeys"/g)].map((m) => Number(m[1]));
    if ("ENGINE_PROCESS" in env) expect(childPids.length).toBeGreaterThan(0);
    await poll(async () => (childPids.some(alive) ? undefined : true), 10_000, "orphaned engine children to exit");

    const second = await startServer(dataDir, env);
    const ended = await poll(async () => {
      const op = await getJson(`${second.base}/v1/operations/${id}`);
      return ["succeeded", "failed", "interrupted", "cancelled"].includes(op.status) ? op : undefined;
    }, 60_000, "the operation to resume and finish");
    expect([ended.status, ended.attempt]).toEqual(["succeeded", 2]);

    const after = (await getJson(`${second.base}/v1/operations/${id}/events?limit=1000`)).items as Json[];
    // Gap-free across both attempts, everything seen before the kill still there, unchanged.
    expect(after.map((e) => e.seq)).toEqual(after.map((_, i) => i + 1));
    expect(after.slice(0, before.length)).toEqual(before);
    const boundary = after.findIndex((e) => e.type === "operation.resuming");
    expect(boundary).toBeGreaterThanOrEqual(before.length);
    expect(after[boundary]).toMatchObject({ attempt: 1, nextAttempt: 2 });
    expect(after.slice(boundary + 1).find((e) => e.type === "operation.started")).toMatchObject({ attempt: 2 });
    expect(after.at(-1)!.type).toBe("operation.succeeded");
    expect(after.filter((e) => e.type === "operation.interrupted")).toEqual([]);
    // Attempt 2 recovered the stack first, and every step it reports as pending is one of this stack's.
    // (How many were pending depends on where the kill landed: a step whose state was already
    // written is not pending, even if its event was not; test/engine/contract.ts kills mid-step.)
    const diagnostics = after.slice(boundary).filter((e) => e.type === "diagnostic").map((e) => ({ urn: e.urn as string | undefined, message: String(e.message) }));
    expect(diagnostics.some((d) => d.message.startsWith(`recovered the stack after interrupted operation ${id}`)), JSON.stringify(diagnostics)).toBe(true);
    // (A step's marker is written just before its started event, so a pending URN may have no event yet.)
    const pending = diagnostics.filter((d) => d.message.startsWith(`pending operation from interrupted operation ${id}`));
    for (const p of pending) expect(p.urn).toMatch(/^urn:pulumi:crashy::saas-bridge::/);
    const provider = await getJson(`${second.base}/v1/providers/crashy`);
    expect(provider.lifecycle).toBe("active");
    second.child.kill("SIGTERM");
  }, 120_000);
});
