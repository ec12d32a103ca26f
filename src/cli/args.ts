import { parseArgs } from "node:util";
import { CliError, EXIT } from "./exit-codes.js";

/** What the command line asked for, checked against the command's own arguments and options. */
export const COMMANDS = {
  onboard: { args: ["spec.json"], optional: [], options: ["no-follow"], summary: "onboard a provider from a spec file (POST /v1/providers)" },
  status: { args: ["name"], optional: [], options: [], summary: "show a provider" },
  list: { args: [], optional: [], options: ["team", "lifecycle", "drift"], summary: "list providers of your teams (every page)" },
  preview: { args: ["name"], optional: ["spec.json"], options: ["no-follow"], summary: "plan without changes (current spec, or the one given)" },
  revoke: { args: ["name"], optional: [], options: ["no-follow"], summary: "cut the provider's access now, keep all data" },
  reinstate: { args: ["name"], optional: [], options: ["no-follow"], summary: "restore a revoked provider's access" },
  decommission: { args: ["name"], optional: [], options: ["no-follow", "key"], summary: "destroy the provider's stack (--key retain|shred the BYOK key)" },
  approve: { args: ["operation-id"], optional: [], options: ["no-follow", "comment"], summary: "approve an operation awaiting approval, then follow it" },
  reject: { args: ["operation-id"], optional: [], options: ["comment"], summary: "reject an operation awaiting approval (--comment required)" },
  verify: { args: ["name"], optional: [], options: ["no-follow"], summary: "verify in the cloud that access is what it must be" },
  follow: { args: ["operation-id"], optional: [], options: [], summary: "follow an operation's progress until it ends" },
} as const satisfies Record<string, CommandSpec>;

interface CommandSpec {
  readonly args: readonly string[];
  readonly optional: readonly string[];
  readonly options: readonly OptionName[];
  readonly summary: string;
}

export type CommandName = keyof typeof COMMANDS;
type OptionName = "no-follow" | "team" | "lifecycle" | "drift" | "key" | "comment";

export interface Invocation {
  readonly command: CommandName;
  readonly args: readonly string[];
  readonly json: boolean;
  readonly follow: boolean;
  readonly team?: string;
  readonly lifecycle?: string;
  readonly drift?: string;
  readonly key?: "retain" | "shred";
  readonly comment?: string;
}

export type Parsed = { readonly help: true; readonly command?: CommandName } | ({ readonly help: false } & Invocation);

const OPTIONS = {
  json: { type: "boolean" },
  "no-follow": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  team: { type: "string" },
  lifecycle: { type: "string" },
  drift: { type: "string" },
  key: { type: "string" },
  comment: { type: "string" },
} as const;

const TOKEN_ON_ARGV =
  "credentials are never taken from the command line (arguments show in shell history and to every user in `ps`): " +
  "set SAAS_BRIDGE_TOKEN, or SAAS_BRIDGE_TOKEN_FILE to a file (mode 0600) holding the key";

export function parseInvocation(argv: readonly string[]): Parsed {
  // Before parsing, and without echoing the argument: its value is a secret that must not reach a log.
  if (argv.some((a) => a === "--token" || a.startsWith("--token="))) throw new CliError(EXIT.usage, TOKEN_ON_ARGV);
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true; args: string[] }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(EXIT.usage, `${(err as Error).message}\n${usage()}`);
  }
  const { values, positionals } = parsed;
  const [name, ...args] = positionals;
  if (name === undefined) {
    if (values.help) return { help: true };
    throw new CliError(EXIT.usage, `a command is needed\n${usage()}`);
  }
  if (!isCommand(name)) throw new CliError(EXIT.usage, `unknown command: ${name}\n${usage()}`);
  if (values.help) return { help: true, command: name };
  const spec: CommandSpec = COMMANDS[name];
  if (args.length < spec.args.length || args.length > spec.args.length + spec.optional.length) {
    throw new CliError(EXIT.usage, `usage: ${commandUsage(name)}`);
  }
  for (const option of ["no-follow", "team", "lifecycle", "drift", "key", "comment"] as const) {
    if (values[option] !== undefined && !spec.options.includes(option)) throw new CliError(EXIT.usage, `${name} takes no --${option}\nusage: ${commandUsage(name)}`);
  }
  const key = values.key;
  if (key !== undefined && !isKeyDisposition(key)) throw new CliError(EXIT.usage, `--key must be retain or shred, not ${key}`);
  if (name === "reject" && !values.comment) throw new CliError(EXIT.usage, "reject needs --comment: the requester reads why");
  return {
    help: false,
    command: name,
    args,
    json: values.json === true,
    follow: values["no-follow"] !== true,
    ...(values.team === undefined ? {} : { team: values.team }),
    ...(values.lifecycle === undefined ? {} : { lifecycle: values.lifecycle }),
    ...(values.drift === undefined ? {} : { drift: values.drift }),
    ...(key === undefined ? {} : { key }),
    ...(values.comment === undefined ? {} : { comment: values.comment }),
  };
}

function isKeyDisposition(key: string): key is "retain" | "shred" {
  return key === "retain" || key === "shred";
}

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

export function commandUsage(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  const parts = [
    "saas-bridge",
    name,
    ...spec.args.map((a) => `<${a}>`),
    ...spec.optional.map((a) => `[${a}]`),
    ...spec.options.map((o) => (o === "no-follow" ? "[--no-follow]" : o === "key" ? "[--key retain|shred]" : name === "reject" ? `--${o} <text>` : `[--${o} <${o}>]`)),
    "[--json]",
  ];
  return parts.join(" ");
}

export function usage(): string {
  const lines = (Object.keys(COMMANDS) as CommandName[]).map((name) => `  ${commandUsage(name)}\n      ${COMMANDS[name].summary}`);
  return [
    "usage: saas-bridge <command> [arguments] [--json] [--help]",
    "",
    "commands:",
    ...lines,
    "",
    "A change (onboard, preview, revoke, reinstate, decommission, approve, verify) follows the operation until it",
    "ends; --no-follow prints its id instead. --json prints JSON (one event per line while following).",
    "",
    "environment:",
    "  SAAS_BRIDGE_URL         the service (default http://127.0.0.1:8080)",
    "  SAAS_BRIDGE_TOKEN       an API key or token, or",
    "  SAAS_BRIDGE_TOKEN_FILE  a file holding one (mode 0600; never pass a key as an argument)",
    "  NO_COLOR                no colour on a terminal",
    "",
    "exit codes: 0 ok, 1 operation failed/cancelled/interrupted (verify: not passed), 2 usage,",
    "            3 credentials refused, 4 not found, 5 conflict/state, 6 service unreachable or 5xx",
  ].join("\n");
}
