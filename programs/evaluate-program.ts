import * as pulumi from "@pulumi/pulumi";

/**
 * Runs an inline program under Pulumi's mock runtime and records every resource registration. Used by
 * the program tests and by the simulated engine.
 *
 * Pulumi's mock runtime is process-global (one monitor, one stack, one project: research
 * pulumi-automation.md §5, pitfall 4), so evaluations in one process are serialized here: the simulated
 * engine and the service's guardrail check may ask at the same time. For the same reason, any unhandled
 * promise rejection in the process while a program is evaluated is taken as that program's failure.
 */

export interface RegisteredResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** Parent URN; "" for the root stack resource. */
  readonly parent: string;
  readonly custom: boolean;
  /** URN of the explicit provider ("" for the default provider and for components). */
  readonly provider: string;
  readonly dependencies: readonly string[];
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly id: string;
  /** Output state: what the mock returned for custom resources, registered outputs for components. */
  readonly state: Readonly<Record<string, unknown>>;
  readonly options: {
    readonly protect: boolean;
    readonly retainOnDelete: boolean;
    readonly ignoreChanges: readonly string[];
    readonly deleteBeforeReplace: boolean;
    readonly additionalSecretOutputs: readonly string[];
  };
}

export interface EvaluateOptions {
  readonly stack: string;
  readonly project: string;
  readonly mocks: pulumi.runtime.Mocks;
  readonly preview?: boolean;
  /**
   * Stack config for this evaluation (full keys, `namespace:key`), as an engine would give it; the keys in
   * `secretKeys` read as secrets. Restored after the evaluation: the runtime's config is process-global too.
   */
  readonly config?: { readonly values: Readonly<Record<string, string>>; readonly secretKeys: readonly string[] };
}

export interface Evaluation {
  readonly outputs: Readonly<Record<string, unknown>>;
  /** In registration (request) order. */
  readonly resources: readonly RegisteredResource[];
  /** Output state by URN. */
  readonly state: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

type Callback<T> = (err: Error | null, resp?: T) => void;
interface Struct {
  toJavaScript(): unknown;
}
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getDependenciesList(): string[];
  getObject(): Struct | undefined;
  getProtect(): boolean;
  getRetainondelete(): boolean;
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
  getAdditionalsecretoutputsList(): string[];
}
interface RegisterResponse {
  getUrn(): string;
  getId(): string;
  getObject(): Struct | undefined;
}
interface OutputsRequest {
  getUrn(): string;
  getOutputs(): Struct | undefined;
}
interface MockMonitorLike {
  registerResource(req: RegisterRequest, callback: Callback<RegisterResponse>): void;
  registerResourceOutputs(req: OutputsRequest, callback: Callback<unknown>): void;
}

function plain(struct: Struct | undefined): Record<string, unknown> {
  // deserializeProperties only calls toJavaScript(); its declared parameter is the protobuf class.
  const deserialize = pulumi.runtime.deserializeProperties as (s: Struct) => Record<string, unknown>;
  return struct ? deserialize(struct) : {};
}

/** `<provider urn>::<provider id>` → `<provider urn>`. */
function providerUrn(reference: string): string {
  const cut = reference.lastIndexOf("::");
  return cut > 0 && reference.startsWith("urn:") ? reference.slice(0, cut) : reference;
}

let tail: Promise<unknown> = Promise.resolve();

export function evaluateProgram(
  program: () => Promise<Record<string, unknown> | void>,
  options: EvaluateOptions,
): Promise<Evaluation> {
  const next = tail.then(
    () => evaluateNow(program, options),
    () => evaluateNow(program, options),
  );
  tail = next.catch(() => undefined);
  return next;
}

async function evaluateNow(
  program: () => Promise<Record<string, unknown> | void>,
  options: EvaluateOptions,
): Promise<Evaluation> {
  await pulumi.runtime.setMocks(options.mocks, options.project, options.stack, options.preview ?? false);
  const configBefore = options.config ? pulumi.runtime.allConfig() : undefined;
  if (options.config) pulumi.runtime.setAllConfig({ ...options.config.values }, [...options.config.secretKeys]);
  const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitorLike | undefined;
  if (!monitor) throw new Error("evaluateProgram: no Pulumi monitor after setMocks");

  type Recorded = { -readonly [K in keyof RegisteredResource]: RegisteredResource[K] };
  const pending: { record: Omit<Recorded, "urn" | "id">; done?: Recorded }[] = [];
  const byUrn = new Map<string, Recorded>();

  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const slot: (typeof pending)[number] = {
      record: {
        type: req.getType(),
        name: req.getName(),
        parent: req.getParent(),
        custom: req.getCustom(),
        provider: providerUrn(req.getProvider()),
        dependencies: [...req.getDependenciesList()],
        inputs: plain(req.getObject()),
        state: {},
        options: {
          protect: req.getProtect(),
          retainOnDelete: req.getRetainondelete(),
          ignoreChanges: [...req.getIgnorechangesList()],
          deleteBeforeReplace: req.getDeletebeforereplace(),
          additionalSecretOutputs: [...req.getAdditionalsecretoutputsList()],
        },
      },
    };
    pending.push(slot);
    register(req, (err, resp) => {
      if (!err && resp) {
        slot.done = { ...slot.record, urn: resp.getUrn(), id: resp.getId(), state: plain(resp.getObject()) };
        byUrn.set(slot.done.urn, slot.done);
      }
      callback(err, resp);
    });
  };

  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResourceOutputs = (req, callback) => {
    const resource = byUrn.get(req.getUrn());
    if (resource && !resource.custom) resource.state = plain(req.getOutputs());
    registerOutputs(req, callback);
  };

  // The program's own exceptions are caught here, not left to reject the Stack resource: Pulumi would
  // turn them into several unhandled rejections. Failed resource operations are deliberately left
  // unhandled by the SDK (the language host's handler fails the run, runtime/resource.js
  // runAsyncResourceOp), so the same is done here for the duration of the evaluation.
  let failure: { readonly error: unknown } | undefined;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  const guarded = async (): Promise<Record<string, unknown>> => {
    try {
      return (await program()) ?? {};
    } catch (error) {
      failure = { error };
      return {};
    }
  };

  process.on("unhandledRejection", onRejection);
  // The SDK captures `new Error().stack` for every promise it creates, only to explain leaks at exit
  // (runtime/debuggable.js); with source maps on (tsx) that capture dominated the evaluation (128 ms →
  // 27 ms median for the provider stack without it). Errors created meanwhile anywhere in the process
  // carry their message but no frames; evaluations are short and serialized, so the window is small.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  let outputs: Record<string, unknown> = {};
  try {
    outputs = (await pulumi.runtime.runInPulumiStack(guarded)) ?? {};
  } catch (error) {
    failure ??= { error };
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    if (configBefore) pulumi.runtime.setAllConfig(configBefore);
    await pulumi.runtime.disconnect();
    // Unhandled rejections are reported after the microtask queue drains.
    await new Promise((resolve) => setImmediate(resolve));
    process.off("unhandledRejection", onRejection);
  }
  if (failure) throw failure.error;
  if (rejections.length > 0) throw rejections[0];

  const resources = pending.flatMap((slot) => (slot.done ? [slot.done] : []));
  const state = Object.fromEntries(resources.map((r) => [r.urn, r.state]));
  return { outputs, resources, state };
}
