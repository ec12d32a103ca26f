import type { CheckCode, CheckResult, CheckStatus, EvidenceValue, VerificationTarget } from "./types.js";

/** What the checks share: building results, recognising the provider's principals, reading policy documents. */

type Evidence = { readonly [key: string]: EvidenceValue };

export function result(code: CheckCode, status: CheckStatus, message: string, evidence: Evidence = {}): CheckResult {
  return { code, status, message: oneLine(message), evidence };
}

export const pass = (code: CheckCode, message: string, evidence?: Evidence): CheckResult => result(code, "pass", message, evidence);
export const fail = (code: CheckCode, message: string, evidence?: Evidence): CheckResult => result(code, "fail", message, evidence);
export const notApplicable = (code: CheckCode, message: string): CheckResult => result(code, "not-applicable", message);
/** The cloud could not be read: never a pass. */
export const notVerifiable = (code: CheckCode, reason: string): CheckResult => result(code, "not-verifiable", `could not read AWS: ${reason}`);

/**
 * A capability whose id the target lacks: nothing to verify for a revoked or decommissioned provider, but an
 * active one requires it (types.ts, VerificationTarget), so its absence is a failure.
 */
export function absent(code: CheckCode, target: VerificationTarget, what: string): CheckResult {
  return target.expectation === "active" ? fail(code, `active access needs ${what}, but none is known`) : notApplicable(code, `no ${what} known for this provider`);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** At most `max` items joined, with how many were left out: messages stay one short line. */
export function list(items: readonly string[], max = 5): string {
  if (items.length <= max) return items.join(", ");
  return `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

/**
 * The provider's principals: the spec's principal ARNs, and anything of its account (IAM users and roles,
 * the root, assumed-role sessions, the bare account id).
 */
export function isProviderPrincipal(target: VerificationTarget, principal: string): boolean {
  if (target.providerPrincipalArns.includes(principal)) return true;
  if (principal === target.providerAccountId) return true;
  const m = /^arn:[^:]+:(iam|sts)::(\d{12}):/.exec(principal);
  return m?.[2] === target.providerAccountId;
}

/** `arn:<partition>:iam::<account>:root` or the bare account id: the account as a policy principal. */
export function isAccountRoot(principal: string, accountId: string): boolean {
  return principal === accountId || new RegExp(`^arn:[^:]+:iam::${accountId}:root$`).test(principal);
}

/** A policy statement as found in a document: every element may be a string or an array, or absent. */
export interface Statement {
  readonly Sid?: unknown;
  readonly Effect?: unknown;
  readonly Principal?: unknown;
  readonly Action?: unknown;
  readonly NotAction?: unknown;
  readonly Resource?: unknown;
  readonly Condition?: unknown;
}

/** The statements of a JSON policy document; undefined when the text is not one. */
export function statements(document: string): Statement[] | undefined {
  if (document.trim() === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(document);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const raw = (parsed as { Statement?: unknown }).Statement;
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return all.filter((s): s is Statement => typeof s === "object" && s !== null);
}

/** The strings of an element that is a string or an array of strings. */
export function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** The AWS principals a statement names (`"*"` as such). */
export function awsPrincipals(statement: Statement): string[] {
  const principal = statement.Principal;
  if (principal === "*") return ["*"];
  if (typeof principal === "object" && principal !== null) return strings((principal as { AWS?: unknown }).AWS);
  return [];
}

export const isDeny = (statement: Statement): boolean => statement.Effect === "Deny";

export function hasCondition(statement: Statement): boolean {
  const condition = statement.Condition;
  return typeof condition === "object" && condition !== null && Object.keys(condition).length > 0;
}

export function sidOf(statement: Statement, index: number): string {
  return typeof statement.Sid === "string" && statement.Sid !== "" ? statement.Sid : `#${index}`;
}
