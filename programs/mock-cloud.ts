import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";

/**
 * A deterministic, strict mock of AWS for Pulumi's mock runtime, used by the program tests and by the
 * simulated engine (which runs the real program under mocks). Resources get realistic computed
 * attributes; invokes other than the few identity lookups below throw, so a program that starts
 * depending on a data source fails loudly here instead of silently reading made-up data.
 */

export { evaluateProgram, type Evaluation, type EvaluateOptions, type RegisteredResource } from "./evaluate-program.js";

export interface MockCloudOptions {
  /** Region of resources whose provider sets none. Default `eu-west-1`. */
  readonly region?: string;
  /** Account of the default (ambient) credentials, e.g. the Organizations management account. */
  readonly callerAccountId?: string;
}

type Inputs = Record<string, unknown>;

/** Pulumi rethrows a failed RPC as `new Error(err.details)`: carry the message there too. */
export class MockCloudError extends Error {
  readonly details: string;
  constructor(message: string) {
    super(message);
    this.name = "MockCloudError";
    this.details = message;
  }
}

interface Context {
  readonly type: string;
  readonly name: string;
  readonly inputs: Inputs;
  readonly region: string;
  readonly accountId: string;
  readonly partition: string;
  /** Deterministic hex derived from the type, the name and the inputs that force replacement. */
  readonly hex: (length: number, salt?: string) => string;
}
type Computed = (c: Context) => { id: string; state: Inputs };

/**
 * Inputs whose change makes AWS (the Terraform provider) replace the resource: they feed the id, so a
 * replacement shows up as a new id in the simulated engine, while in-place updates keep it.
 */
const REPLACE_ON: Readonly<Record<string, readonly string[]>> = {
  "aws:ec2/securityGroup:SecurityGroup": ["vpcId", "name", "namePrefix", "description"],
  "aws:ec2/vpcEndpoint:VpcEndpoint": ["vpcId", "serviceName", "vpcEndpointType"],
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["securityGroupId"],
  "aws:networkfirewall/ruleGroup:RuleGroup": ["name", "type", "capacity"],
  "aws:kms/key:Key": ["keyUsage", "customerMasterKeySpec", "customKeyStoreId", "multiRegion"],
  "aws:kms/alias:Alias": ["name"],
  "aws:kms/grant:Grant": ["keyId", "granteePrincipal", "operations", "constraints", "retiringPrincipal", "name"],
  "aws:organizations/account:Account": ["email"],
};

const uuid = (h: string): string => `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
const arn = (c: Context, service: string, resource: string): string =>
  `arn:${c.partition}:${service}:${c.region}:${c.accountId}:${resource}`;

const COMPUTED: Readonly<Record<string, Computed>> = {
  "aws:organizations/account:Account": (c) => {
    const id = (BigInt(`0x${c.hex(15)}`) % 10n ** 12n).toString().padStart(12, "0");
    const org = `o-${c.hex(10, "org")}`;
    return { id, state: { arn: `arn:${c.partition}:organizations::${c.accountId}:account/${org}/${id}`, status: "ACTIVE", govcloudId: "" } };
  },
  "aws:ec2/securityGroup:SecurityGroup": (c) => {
    const id = `sg-${c.hex(17)}`;
    return { id, state: { arn: arn(c, "ec2", `security-group/${id}`), ownerId: c.accountId, name: c.inputs["name"] ?? `${c.name}-${c.hex(7, "name")}` } };
  },
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (c) => {
    const id = `sgr-${c.hex(17)}`;
    return { id, state: { securityGroupRuleId: id, arn: arn(c, "ec2", `security-group-rule/${id}`) } };
  },
  "aws:ec2/vpcEndpoint:VpcEndpoint": (c) => {
    const id = `vpce-${c.hex(17)}`;
    const service = /vpce-svc-[0-9a-f]{17}$/.exec(String(c.inputs["serviceName"] ?? ""))?.[0] ?? `vpce-svc-${c.hex(17, "svc")}`;
    const suffix = c.partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
    const host = `${id}-${c.hex(8, "dns")}`;
    const subnets = Array.isArray(c.inputs["subnetIds"]) ? c.inputs["subnetIds"] : [];
    const zoneId = `Z${c.hex(13, "zone").toUpperCase()}`;
    const zonal = subnets.map((_, i) => `${host}-${c.region}${"abcdef"[i % 6]}.${service}.${c.region}.vpce.${suffix}`);
    const dnsEntries = [`${host}.${service}.${c.region}.vpce.${suffix}`, ...zonal].map((dnsName) => ({ dnsName, hostedZoneId: zoneId }));
    return {
      id,
      state: {
        arn: arn(c, "ec2", `vpc-endpoint/${id}`),
        state: "pendingAcceptance",
        dnsEntries,
        networkInterfaceIds: subnets.map((_, i) => `eni-${c.hex(17, `eni${i}`)}`),
        ownerId: c.accountId,
        requesterManaged: false,
        cidrBlocks: [],
      },
    };
  },
  "aws:networkfirewall/ruleGroup:RuleGroup": (c) => {
    const kind = c.inputs["type"] === "STATELESS" ? "stateless-rulegroup" : "stateful-rulegroup";
    const id = arn(c, "network-firewall", `${kind}/${String(c.inputs["name"] ?? c.name)}`);
    // The update token changes with the content, like AWS's optimistic-locking token.
    return { id, state: { arn: id, updateToken: uuid(digest(JSON.stringify(c.inputs, stable))) } };
  },
  "aws:kms/key:Key": (c) => {
    const keyId = uuid(c.hex(32));
    return { id: keyId, state: { keyId, arn: arn(c, "kms", `key/${keyId}`), isEnabled: c.inputs["isEnabled"] ?? true } };
  },
  "aws:kms/alias:Alias": (c) => {
    const name = String(c.inputs["name"] ?? `alias/${c.name}`);
    const target = String(c.inputs["targetKeyId"] ?? "");
    return { id: name, state: { name, arn: arn(c, "kms", name), targetKeyArn: target.startsWith("arn:") ? target : arn(c, "kms", `key/${target}`) } };
  },
  // No grantToken: it is a secret and nothing may depend on it (ByokKey never exports it).
  "aws:kms/grant:Grant": (c) => {
    const grantId = c.hex(64);
    const keyId = String(c.inputs["keyId"] ?? "").split("/").pop() ?? "";
    return { id: `${keyId}:${grantId}`, state: { grantId } };
  },
};

function digest(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/** JSON replacer giving the same text for equal values (sorted keys; unknowns become a marker). */
function stable(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  if (Object.getPrototypeOf(value) !== Object.prototype) return "<unknown>";
  return Object.fromEntries(Object.entries(value as Inputs).sort(([a], [b]) => a.localeCompare(b)));
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
        const accounts = parseJsonList(inputs["allowedAccountIds"]);
        const accountId = typeof accounts[0] === "string" ? accounts[0] : defaults.accountId;
        providers.set(id, { region: typeof inputs["region"] === "string" ? inputs["region"] : defaults.region, accountId });
        return { id, state: inputs };
      }
      if (!args.type.startsWith("aws:")) throw new MockCloudError(`mock-cloud: unmocked resource type ${args.type}`);
      const replaceKeys = REPLACE_ON[args.type] ?? [];
      const identity = JSON.stringify([args.type, args.name, ...replaceKeys.map((k) => inputs[k] ?? null)], stable);
      const context: Context = {
        type: args.type,
        name: args.name,
        inputs,
        ...contextOf(args.provider, inputs),
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
