import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { waitForStatus, type TestService } from "../helpers/service.js";
import type { RealEngine } from "../support/real-engine.js";

/** The real-engine suite's requests and readings of the engine's files (test/engine/real-engine.test.ts). */
type Json = Record<string, any>;
export const REAL_ENGINE_TIMEOUT = 240_000;

export async function accepted(s: TestService, req: { method: "POST" | "PUT" | "DELETE"; url: string; payload?: unknown }): Promise<string> {
  const res = await s.app.inject(req as never);
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as Json).operation.id as string;
}

export async function run(s: TestService, req: { method: "POST" | "PUT" | "DELETE"; url: string; payload?: unknown }): Promise<Json> {
  return waitForStatus(s, await accepted(s, req), ["succeeded", "failed", "cancelled", "interrupted"], REAL_ENGINE_TIMEOUT);
}

export async function events(s: TestService, id: string): Promise<Json[]> {
  return ((await s.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json).items as Json[];
}

/** The steps an operation reported, as `op type name`, sorted (engines may order independent steps differently). */
export async function stepsOf(s: TestService, op: Json): Promise<string[]> {
  const kind = op.kind === "preview" ? "resource.planned" : "resource.completed";
  return (await events(s, op.id)).filter((e) => e.type === kind).map((e) => `${e.op} ${e.resourceType} ${e.name}`).sort();
}

/** The stack's checkpoint in the file backend (state is written as JSON, optionally gzipped: the default is plain). */
export function latestCheckpoint(dataDir: string, stack: string): Json {
  const dir = join(dataDir, "pulumi-state", ".pulumi", "stacks", "saas-bridge");
  const file = readdirSync(dir).find((f) => f === `${stack}.json`);
  if (!file) throw new Error(`no checkpoint for ${stack} in ${dir}`);
  return JSON.parse(readFileSync(join(dir, file), "utf8")) as Json;
}

export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return [];
    return st.isDirectory() ? filesUnder(path) : st.isFile() ? [path] : [];
  });
}

/** The rule-group ARNs the stand-in cloud's firewall policy of `region` lists, sorted. */
export function policyRuleGroups(real: RealEngine, region: string): string[] {
  const policy = real.cloud
    .list()
    .find((r) => r.type === "aws:networkfirewall/firewallPolicy:FirewallPolicy" && String(r.outputs["arn"]).includes(`:${region}:`));
  return [...JSON.stringify(policy?.inputs ?? {}).matchAll(/arn:aws:network-firewall:[^"]+:stateful-rulegroup\/[^"]+/g)].map((m) => m[0]).sort();
}

/** The rule-group ARNs the active or revoked provider stacks of `region` created, sorted. */
export async function stackRuleGroups(s: TestService, region: string): Promise<string[]> {
  const list = ((await s.app.inject({ method: "GET", url: "/v1/providers?limit=100" })).json() as Json).items as Json[];
  const live = list.filter((p) => p.lifecycle === "active" || p.lifecycle === "revoked");
  const views = await Promise.all(live.map(async (p) => (await s.app.inject({ method: "GET", url: `/v1/providers/${p.name}` })).json() as Json));
  return views.filter((v) => v.spec.region === region).map((v) => String(v.outputs.ruleGroupArn)).sort();
}
