import { readFile } from "node:fs/promises";
import type { Operation, ProviderSpec, SaasBridgeClient } from "../client/index.js";
import { clean } from "../http/text-progress.js";
import { call } from "./api.js";
import type { Invocation } from "./args.js";
import type { CliConfig } from "./config.js";
import { CliError, EXIT, type ExitCode } from "./exit-codes.js";
import { followOperation } from "./follow.js";
import { createRenderer, type RenderMode, type Sink } from "./render.js";
import { printProvider, printProviders } from "./show.js";

/** Everything a command needs, built once by `main`: no command reads the environment or argv itself. */
export interface CommandContext {
  readonly api: SaasBridgeClient;
  readonly config: CliConfig;
  readonly inv: Invocation;
  readonly mode: RenderMode;
  readonly color: boolean;
  readonly out: Sink;
  readonly err: Sink;
  readonly signal: AbortSignal;
}

export async function runCommand(ctx: CommandContext): Promise<ExitCode> {
  const { api, inv } = ctx;
  const [first = "", second] = inv.args;
  const name = { params: { path: { name: first } } };
  switch (inv.command) {
    case "onboard": {
      const spec = await readSpec(first);
      return accepted(ctx, await request(ctx, api.POST("/v1/providers", { body: spec })));
    }
    case "status":
      printProvider(ctx, await request(ctx, api.GET("/v1/providers/{name}", name)));
      return EXIT.ok;
    case "list":
      return list(ctx);
    case "preview": {
      const body = second === undefined ? undefined : await readSpec(second);
      return accepted(ctx, await request(ctx, api.POST("/v1/providers/{name}/preview", { ...name, ...(body ? { body } : {}) })));
    }
    case "revoke":
      return accepted(ctx, await request(ctx, api.POST("/v1/providers/{name}/revoke", name)));
    case "reinstate":
      return accepted(ctx, await request(ctx, api.POST("/v1/providers/{name}/reinstate", name)));
    case "verify":
      return accepted(ctx, await request(ctx, api.POST("/v1/providers/{name}/verifications", name)));
    case "decommission":
      return accepted(ctx, await request(ctx, api.DELETE("/v1/providers/{name}", { ...name, ...(inv.key ? { body: { key: inv.key } } : {}) })));
    case "approve":
      return approve(ctx, first);
    case "reject": {
      const path = { params: { path: { id: first } } };
      const op = await request(ctx, api.POST("/v1/operations/{id}/reject", { ...path, body: { comment: inv.comment ?? "" } }));
      report(ctx, op, `rejected ${op.id} (${op.intent} ${op.provider}): ${op.status}`);
      return EXIT.ok;
    }
    case "follow": {
      const op = await request(ctx, api.GET("/v1/operations/{id}", { params: { path: { id: first } } }));
      return follow(ctx, op);
    }
  }
}

function request<T>(ctx: CommandContext, answer: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  return call(ctx.config.baseUrl, answer);
}

async function readSpec(path: string): Promise<ProviderSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new CliError(EXIT.usage, `cannot read spec file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return JSON.parse(text) as ProviderSpec;
  } catch (err) {
    throw new CliError(EXIT.usage, `spec file ${path} is not JSON: ${(err as Error).message}`);
  }
}

/** A change was accepted: follow it, or print what a script needs to follow it later. */
async function accepted(ctx: CommandContext, answer: { operation: Operation; queuePosition: number }): Promise<ExitCode> {
  if (ctx.inv.follow) return follow(ctx, answer.operation);
  if (ctx.mode === "json") ctx.out.write(`${JSON.stringify(answer)}\n`);
  // The id alone on stdout, so `OP=$(saas-bridge revoke acme --no-follow)` works.
  else ctx.out.write(`${answer.operation.id}\n`);
  return EXIT.ok;
}

async function approve(ctx: CommandContext, id: string): Promise<ExitCode> {
  const path = { params: { path: { id } } };
  // The API makes the approver name the spec it reviewed; this is the spec the operation carries now.
  const current = await request(ctx, ctx.api.GET("/v1/operations/{id}", path));
  const body = { specHash: current.specHash, ...(ctx.inv.comment === undefined ? {} : { comment: ctx.inv.comment }) };
  const op = await request(ctx, ctx.api.POST("/v1/operations/{id}/approve", { ...path, body }));
  if (ctx.inv.follow) {
    if (ctx.mode !== "json") ctx.err.write(`approved ${op.id} (${op.intent} ${op.provider}, spec ${op.specHash.slice(0, 12)}…)\n`);
    return follow(ctx, op);
  }
  report(ctx, op, `approved ${op.id} (${op.intent} ${op.provider}): ${op.status}`);
  return EXIT.ok;
}

function report(ctx: CommandContext, op: Operation, line: string): void {
  ctx.out.write(ctx.mode === "json" ? `${JSON.stringify(op)}\n` : `${clean(line)}\n`);
}

async function list(ctx: CommandContext): Promise<ExitCode> {
  const { team, lifecycle, drift } = ctx.inv;
  const filters = { ...(team ? { team } : {}), ...(lifecycle ? { lifecycle } : {}), ...(drift ? { drift } : {}) } as Record<string, string>;
  const items = [];
  let cursor: string | undefined;
  // Bounded: a service that kept answering `next` would otherwise keep this loop going for ever.
  for (let page = 0; page < 10_000; page += 1) {
    const query = { limit: 100, ...filters, ...(cursor ? { cursor } : {}) } as { limit: number };
    const answer = await request(ctx, ctx.api.GET("/v1/providers", { params: { query } }));
    items.push(...answer.items);
    const next = answer.links["next"];
    if (next === undefined) break;
    // links.next keeps the filters; its cursor is what moves on.
    cursor = new URL(next, ctx.config.baseUrl).searchParams.get("cursor") ?? undefined;
    if (cursor === undefined) break;
  }
  printProviders(ctx, items);
  return EXIT.ok;
}

/** Shows the operation's events until it ends; the exit code says how it ended. */
export async function follow(ctx: CommandContext, op: Operation): Promise<ExitCode> {
  const header = `${op.intent} ${op.provider} — operation ${op.id} (engine: ${op.engine})`;
  const renderer = createRenderer({ mode: ctx.mode, header, out: ctx.out, color: ctx.color });
  let terminal: string | undefined;
  let verification: string | undefined;
  try {
    const events = followOperation({
      baseUrl: ctx.config.baseUrl,
      token: ctx.config.token,
      operationId: op.id,
      signal: ctx.signal,
      onRetry: ({ delayMs, reason }) => ctx.err.write(`${ctx.mode === "tty" ? "\n" : ""}connection lost (${clean(reason)}); resuming in ${(delayMs / 1000).toFixed(1)}s\n`),
    });
    for await (const e of events) {
      renderer.event(e);
      if (e.type === "approval.requested" && ctx.mode !== "json") {
        ctx.err.write(`waiting for another person: saas-bridge approve ${op.id}   (Ctrl-C stops following; the operation stays)\n`);
      }
      if (e.type === "verification.finished") verification = e.status;
      if (e.type.startsWith("operation.") && !["operation.queued", "operation.started", "operation.resuming"].includes(e.type)) terminal = e.type;
    }
  } finally {
    renderer.end();
  }
  if (terminal === undefined) {
    // Resumed past the end (204): the operation says how it ended.
    const ended = await request(ctx, ctx.api.GET("/v1/operations/{id}", { params: { path: { id: op.id } } }));
    terminal = `operation.${ended.status}`;
    verification = ended.result?.verification?.status;
  }
  if (terminal !== "operation.succeeded") return EXIT.failed;
  // A failed check does not fail the operation (README, issue 17); for `verify` it is the answer asked for.
  if (op.intent === "verify" && verification !== "passed") {
    ctx.err.write(`access verification ${verification ?? "result missing"}: see saas-bridge status ${op.provider}\n`);
    return EXIT.failed;
  }
  return EXIT.ok;
}
