import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import * as provider from "@pulumi/pulumi/provider/index.js";
import { createMockCloud, providerAccount, REPLACE_ON } from "../../../programs/mock-cloud.js";
import { COMPUTED } from "../../../programs/mocks/index.js";
import { createCloudStore, FAKE_AWS_DIR_ENV, type CloudStore, type Fault } from "./cloud.js";

/**
 * TEST DOUBLE — a stand-in for the `aws` resource plugin, at the engine's gRPC boundary, so that the
 * real Pulumi CLI runs our real programs with no AWS. The engine starts it as `pulumi-resource-aws`
 * (./plugin.ts installs it into a test PULUMI_HOME); it serves the ResourceProvider protocol through
 * `@pulumi/pulumi/provider`. Ids, ARNs and computed outputs come from the same mock cloud the
 * simulated engine uses, and replacements from the same ForceNew table (REPLACE_ON). The cloud's
 * state lives in files (./cloud.ts) that tests read and edit (drift), with latency and faults.
 * It refuses to start without its state folder, so nothing but a test can run it.
 */
const VERSION = "7.48.0";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

type Props = Record<string, unknown>;

const typeOfUrn = (urn: string) => urn.split("::")[2]?.split("$").at(-1) ?? "";
const nameOfUrn = (urn: string) => urn.split("::").slice(3).join("::");

/** Secret-wrapped values compare and hash by their plain value. */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== "object") return value;
  const o = value as Props;
  if (o[SECRET_SIG] !== undefined && "value" in o) return plain(o["value"]);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, plain(v)]));
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(plain(a), sorted) === JSON.stringify(plain(b), sorted);
}

function sorted(_k: string, v: unknown): unknown {
  return v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Props).sort(([a], [b]) => a.localeCompare(b))) : v;
}

function hasUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(hasUnknown);
  return value !== null && typeof value === "object" && Object.values(value as Props).some(hasUnknown);
}

/** How this plugin instance was configured (one instance per provider resource). */
interface Configured {
  region: string;
  accountId: string;
}

/**
 * The same rule as the mock cloud's: a pinned account, else the assumed role's, else the ambient
 * credentials' (the cloud's caller account: the Organizations management account).
 */
function configuredFrom(args: Props, fallbackAccount: string): Configured {
  return {
    region: typeof args["region"] === "string" ? args["region"] : "eu-west-1",
    accountId: providerAccount(args, fallbackAccount),
  };
}

/** The AWS provider's own wording for an API error, so the service's messages are tested against it. */
function awsError(type: string, op: string, fault: Extract<Fault["action"], { kind: "error" }>): Error {
  const kind = type.split(":").at(-1) ?? type;
  const request = createHash("sha256").update(`${type}${Date.now()}`).digest("hex");
  const rid = `${request.slice(0, 8)}-${request.slice(8, 12)}-${request.slice(12, 16)}-${request.slice(16, 20)}-${request.slice(20, 32)}`;
  return new Error(
    `${op === "create" ? "creating" : op === "update" ? "updating" : "deleting"} ${kind}: operation error ${kind}: ` +
      `https response error StatusCode: ${fault.status ?? 400}, RequestID: ${rid}, api error ${fault.code}: ${fault.message}`,
  );
}

export function createFakeAwsProvider(store: CloudStore): provider.Provider & { configure(args: Props): void } {
  const behaviour = () => store.behaviour();
  let configured: Configured = configuredFrom({}, store.callerAccountId());
  const cloud = () => createMockCloud({ region: configured.region, callerAccountId: configured.accountId });

  async function misbehave(op: Fault["op"], type: string): Promise<void> {
    const b = behaviour();
    const latency = b.latencyMs?.[type] ?? b.latencyMs?.default ?? 0;
    if (op !== "read" && latency > 0) await new Promise((r) => setTimeout(r, latency));
    for (const fault of b.faults ?? []) {
      if (fault.op !== op || (fault.type !== undefined && fault.type !== type)) continue;
      if (fault.nth !== undefined && store.claim(`fault-${createHash("sha256").update(JSON.stringify(fault)).digest("hex").slice(0, 16)}`) !== fault.nth) continue;
      if (fault.action.kind === "crash") process.exit(70);
      if (fault.action.kind === "hang") await new Promise(() => {});
      if (fault.action.kind === "error") throw awsError(type, op, fault.action);
    }
  }

  /** Id and outputs as AWS would return them: the mock cloud's computed attributes over the inputs. */
  function materialize(urn: string, inputs: Props): { id: string; outs: Props } {
    const type = typeOfUrn(urn);
    if (!COMPUTED[type] && !type.startsWith("aws:")) throw new Error(`fake-aws: unknown resource type ${type}`);
    // As AWS: only the management account manages the organisation (the mock cloud refuses the same).
    if (type.startsWith("aws:organizations/") && configured.accountId !== store.callerAccountId()) {
      throw awsError(type, "create", { kind: "error", code: "AccessDeniedException", message: "You don't have permissions to access this resource." });
    }
    const made = cloud().newResource({ type, name: nameOfUrn(urn), inputs: plain(inputs) as Props, custom: true }) as { id: string; state: Props };
    return { id: made.id, outs: { ...made.state, ...inputs } };
  }

  return {
    version: VERSION,
    configure(args) {
      configured = configuredFrom(args, store.callerAccountId());
    },
    async check(_urn, _olds, news) {
      return { inputs: news };
    },
    async diff(id, urn, olds: Props, news: Props) {
      const type = typeOfUrn(urn);
      const record = store.get(type, id);
      const keys = new Set([...Object.keys(news), ...Object.keys(record?.inputs ?? {})]);
      const changed = [...keys].filter((k) => hasUnknown(news[k]) || !same(olds[k], news[k]));
      const replaces = changed.filter((k) => (REPLACE_ON[type] ?? []).includes(k));
      return { changes: changed.length > 0, replaces, deleteBeforeReplace: false };
    },
    async create(urn, inputs: Props) {
      const type = typeOfUrn(urn);
      await misbehave("create", type);
      const { id, outs } = materialize(urn, inputs);
      store.put({ type, id, urn, inputs, outputs: outs });
      return { id, outs };
    },
    async read(id, urn) {
      const type = typeOfUrn(urn);
      await misbehave("read", type);
      const record = store.get(type, id);
      // An empty id tells the engine the resource is gone.
      if (!record) return { id: "", props: {} };
      return { id, props: record.outputs, inputs: record.inputs };
    },
    async update(id, urn, _olds, news: Props) {
      const type = typeOfUrn(urn);
      await misbehave("update", type);
      const { outs } = materialize(urn, news);
      store.put({ type, id, urn, inputs: news, outputs: outs });
      return { outs };
    },
    async delete(id, urn) {
      const type = typeOfUrn(urn);
      await misbehave("delete", type);
      store.remove(type, id);
    },
    async invoke(token, inputs) {
      return { outputs: cloud().call({ token, inputs: plain(inputs) as Props, provider: "" }) as Props };
    },
  };
}

/**
 * `@pulumi/pulumi/provider` answers Configure itself and drops the provider's arguments; each plugin
 * process serves one provider resource, whose region and account the ARNs need. The hook below sees
 * Configure before the SDK answers it.
 */
function onConfigure(handle: (args: Props) => void): void {
  const grpc = createRequire(createRequire(import.meta.url).resolve("@pulumi/pulumi"))("@grpc/grpc-js") as {
    Server: { prototype: { addService(service: unknown, impl: Record<string, unknown>): void } };
  };
  const addService = grpc.Server.prototype.addService;
  grpc.Server.prototype.addService = function (service, impl) {
    const answer = impl["configure"] as (call: unknown, callback: unknown) => void;
    impl["configure"] = (call: { request: { getArgs(): { toJavaScript(): Props } | undefined; getVariablesMap(): { toObject(): [string, string][] } } }, callback: unknown) => {
      const args = call.request.getArgs()?.toJavaScript();
      const variables = Object.fromEntries(call.request.getVariablesMap().toObject().map(([k, v]) => [k.replace(/^aws:(config:)?/, ""), v]));
      handle(args && Object.keys(args).length > 0 ? args : variables);
      answer.call(impl, call, callback);
    };
    return addService.call(this, service, impl);
  };
}

const dir = process.env[FAKE_AWS_DIR_ENV];
if (!dir) {
  process.stderr.write(`fake-aws: this is a test double; it runs only with ${FAKE_AWS_DIR_ENV} set to a test's cloud folder\n`);
  process.exit(64);
}
const fake = createFakeAwsProvider(createCloudStore(dir));
onConfigure((args) => fake.configure(args));
await provider.main(fake, process.argv.slice(2));
