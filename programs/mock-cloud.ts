import type * as pulumi from "@pulumi/pulumi";
import { arn, digest, stable, type Context, type Inputs } from "./mocks/context.js";
import { COMPUTED, REPLACE_ON } from "./mocks/index.js";

/**
 * A deterministic, strict mock of AWS for Pulumi's mock runtime, used by the program tests and by the
 * simulated engine (which runs the real program under mocks). Resources get realistic computed
 * attributes; invokes other than the few identity lookups below throw, so a program that starts
 * depending on a data source fails loudly here instead of silently reading made-up data.
 */

export { REPLACE_ON } from "./mocks/index.js";

export interface MockCloudOptions {
  /** Region of resources whose provider sets none. Default `eu-west-1`. */
  readonly region?: string;
  /**
   * Account of the default provider (the service's own credentials): the Organizations management
   * account, the only one whose Organizations calls succeed. Default `000000000000`.
   */
  readonly callerAccountId?: string;
}

/** Pulumi rethrows a failed RPC as `new Error(err.details)`: carry the message there too. */
export class MockCloudError extends Error {
  readonly details: string;
  constructor(message: string) {
    super(message);
    this.name = "MockCloudError";
    this.details = message;
  }
}

function parseJsonList(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value !== "string") return [];
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

const INVOKES: Readonly<Record<string, (c: { region: string; accountId: string; partition: string }) => Inputs>> = {
  "aws:index/getPartition:getPartition": (c) => ({ id: c.partition, partition: c.partition, dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" }),
  "aws:index/getRegion:getRegion": (c) => ({ id: c.region, region: c.region, name: c.region, description: c.region, endpoint: `ec2.${c.region}.amazonaws.com` }),
  "aws:index/getCallerIdentity:getCallerIdentity": (c) => ({
    id: c.accountId,
    accountId: c.accountId,
    arn: `arn:${c.partition}:sts::${c.accountId}:assumed-role/saas-bridge/mock`,
    userId: `AROA${digest(c.accountId).slice(0, 17).toUpperCase()}:mock`,
  }),
};

/**
 * The account an AWS provider instance works in, as AWS would have it: the one its `allowedAccountIds`
 * pins, else the account of the role it assumes, else the ambient credentials' (`fallback`). Shared
 * with the stand-in AWS plugin of the real-engine tests, which reads the same inputs from Configure.
 */
export function providerAccount(inputs: Inputs, fallback: string): string {
  const allowed = parseJsonList(inputs["allowedAccountIds"]);
  if (typeof allowed[0] === "string" && allowed[0] !== "") return allowed[0];
  const role = parseJsonList(inputs["assumeRoles"])[0] as Inputs | undefined;
  const roleArn = typeof role?.["roleArn"] === "string" ? role["roleArn"] : "";
  return /^arn:[^:]+:iam::(\d{12}):role\//.exec(roleArn)?.[1] ?? fallback;
}

/**
 * One mock cloud per evaluation. Every resource and invoke is answered in the account and region of the
 * provider instance it is registered with: the default provider is the caller's (the Organizations
 * management account), an explicit provider is the account it pins or assumes a role in. Organizations
 * resources registered with a provider in any other account are refused, as AWS refuses the call
 * (AccessDeniedException: only the management account, or a delegated administrator, manages the
 * organisation; the programs use no delegation).
 */
export function createMockCloud(options: MockCloudOptions = {}): pulumi.runtime.Mocks {
  const defaults = { region: options.region ?? "eu-west-1", accountId: options.callerAccountId ?? "000000000000" };
  // Explicit providers by id: resources name their provider as `<urn>::<id>`.
  const providers = new Map<string, { region: string; accountId: string }>();
  const contextOf = (provider: string | undefined, inputs: Inputs) => {
    const fromProvider = provider ? providers.get(provider.slice(provider.lastIndexOf("::") + 2)) : undefined;
    const base = fromProvider ?? defaults;
    const region = typeof inputs["region"] === "string" ? inputs["region"] : base.region;
    const partition = region.startsWith("cn-") ? "aws-cn" : region.startsWith("us-gov-") ? "aws-us-gov" : "aws";
    return { region, accountId: base.accountId, partition };
  };

  return {
    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
      const inputs = (args.inputs ?? {}) as Inputs;
      if (!args.custom) return { id: undefined, state: {} };
      if (args.type === "pulumi:providers:aws") {
        const id = `${args.name}-id`;
        const accountId = providerAccount(inputs, defaults.accountId);
        providers.set(id, { region: typeof inputs["region"] === "string" ? inputs["region"] : defaults.region, accountId });
        return { id, state: inputs };
      }
      if (!args.type.startsWith("aws:")) throw new MockCloudError(`mock-cloud: unmocked resource type ${args.type}`);
      const where = contextOf(args.provider, inputs);
      if (args.type.startsWith("aws:organizations/") && where.accountId !== defaults.accountId) {
        throw new MockCloudError(
          `mock-cloud: ${args.type} ${args.name}: account ${where.accountId} is not the Organizations management account ${defaults.accountId} (AWS: AccessDeniedException)`,
        );
      }
      const replaceKeys = REPLACE_ON[args.type] ?? [];
      const identity = JSON.stringify([args.type, args.name, ...replaceKeys.map((k) => inputs[k] ?? null)], stable);
      const context: Context = {
        type: args.type,
        name: args.name,
        inputs,
        ...where,
        hex: (length, salt = "") => {
          let out = "";
          for (let i = 0; out.length < length; i++) out += digest(`${identity}\0${salt}\0${i}`);
          return out.slice(0, length);
        },
      };
      const computed = COMPUTED[args.type] ?? genericResource;
      const { id, state } = computed(context);
      return { id, state: { ...inputs, ...state } };
    },
    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
      const answer = INVOKES[args.token];
      if (!answer) throw new MockCloudError(`mock-cloud: unmocked invoke ${args.token}`);
      return answer(contextOf(args.provider, (args.inputs ?? {}) as Inputs));
    },
  };
}

/** Any other AWS type: an id and an ARN, so a new resource type does not break the simulated engine. */
function genericResource(c: Context): { id: string; state: Inputs } {
  const [, module = "resource", kind = "resource"] = c.type.split(/[:/]/);
  const kebab = kind.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
  const id = `${kebab}-${c.hex(17)}`;
  return { id, state: { arn: arn(c, module, `${kebab}/${id}`) } };
}
