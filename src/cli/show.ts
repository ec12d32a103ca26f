import type { Provider, ProviderPage } from "../client/index.js";
import { clean } from "../http/text-progress.js";
import type { RenderMode, Sink } from "./render.js";

/** `status` and `list`: one JSON document with --json, else a few aligned lines a person reads. */
interface ShowContext {
  readonly mode: RenderMode;
  readonly out: Sink;
}

export function printProvider(ctx: ShowContext, p: Provider): void {
  if (ctx.mode === "json") {
    ctx.out.write(`${JSON.stringify(p, null, 2)}\n`);
    return;
  }
  const rows: [string, string][] = [
    ["name", p.name],
    ["display name", p.displayName],
    ["team", p.team],
    ["lifecycle", p.lifecycle],
    ["engine", p.engine],
    ["generation", String(p.generation)],
    ["spec hash", p.specHash],
    ["drift", `${p.drift.status}${p.drift.checkedAt ? ` (checked ${p.drift.checkedAt})` : ""}${p.drift.reason ? ` — ${p.drift.reason}` : ""}`],
    ["verification", p.verification ? `${p.verification.status} (operation ${p.verification.operationId})` : "never verified"],
  ];
  for (const op of p.activeOperations) rows.push(["operation", `${op.id} ${op.intent} ${op.status}`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  ctx.out.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${clean(v)}\n`).join(""));
}

export function printProviders(ctx: ShowContext, items: ProviderPage["items"]): void {
  if (ctx.mode === "json") {
    ctx.out.write(`${JSON.stringify({ items }, null, 2)}\n`);
    return;
  }
  const rows = [["NAME", "TEAM", "LIFECYCLE", "DRIFT", "ENGINE"], ...items.map((p) => [p.name, p.team, p.lifecycle, p.drift.status, p.engine].map(clean))];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  ctx.out.write(rows.map((r) => `${r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()}\n`).join(""));
}
