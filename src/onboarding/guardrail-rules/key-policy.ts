import { expandKmsActions, isGrantCreation, isKeyAdministration, isKeyUse } from "./kms-actions.js";
import { arnAccount, asArray, isRecord, nonEmptyString, show, type GuardrailExpectations } from "./types.js";

/**
 * A reader of KMS key policies as IAM evaluates them (research/aws-design.md §1.5), not as our builder
 * happens to write them: a single statement object or an array, `Principal: "*"` or `{AWS: ...}` with a
 * string or a list, `Action` or `NotAction`, and condition keys compared case-insensitively ("Context
 * key names are not case-sensitive", IAM Condition element reference). Values stay case-sensitive.
 */

export interface PolicyStatement {
  readonly sid: string;
  readonly effect: "Allow" | "Deny" | "other";
  /** AWS principals; `["*"]` for `Principal: "*"`. Service principals are not listed. */
  readonly principals: readonly string[];
  readonly notPrincipal: boolean;
  /** Lower-cased; `["*"]` for `NotAction` (an Allow with it allows everything else). */
  readonly actions: readonly string[];
  readonly notAction: boolean;
  /** Operator → (lower-cased key → values). */
  readonly conditions: ReadonlyMap<string, ReadonlyMap<string, readonly unknown[]>>;
}

export type ParsedPolicy = { readonly ok: true; readonly statements: readonly PolicyStatement[] } | { readonly ok: false; readonly reason: string };

export function parseKeyPolicy(policy: unknown): ParsedPolicy {
  if (policy === undefined) return { ok: true, statements: [] }; // the AWS default policy: account root only
  let doc: unknown = policy;
  if (typeof policy === "string") {
    try {
      doc = JSON.parse(policy);
    } catch {
      return { ok: false, reason: "is not valid JSON" };
    }
  }
  if (!isRecord(doc) || !("Statement" in doc)) return { ok: false, reason: "has no Statement" };
  const raw = asArray(doc["Statement"]);
  if (!raw.every(isRecord)) return { ok: false, reason: "has a Statement that is not an object" };
  return { ok: true, statements: raw.map((s, i) => parseStatement(s, i)) };
}

function parseStatement(s: Readonly<Record<string, unknown>>, index: number): PolicyStatement {
  const principal = s["Principal"] ?? s["NotPrincipal"];
  const principals = principal === "*" ? ["*"] : isRecord(principal) ? asArray(principal["AWS"]).filter(nonEmptyString) : [];
  const conditions = new Map<string, Map<string, readonly unknown[]>>();
  if (isRecord(s["Condition"])) {
    for (const [operator, block] of Object.entries(s["Condition"])) {
      if (!isRecord(block)) continue;
      conditions.set(operator, new Map(Object.entries(block).map(([k, v]) => [k.toLowerCase(), asArray(v)])));
    }
  }
  return {
    sid: nonEmptyString(s["Sid"]) ? s["Sid"] : `#${index}`,
    effect: s["Effect"] === "Allow" || s["Effect"] === "Deny" ? s["Effect"] : "other",
    principals,
    notPrincipal: "NotPrincipal" in s,
    actions: "NotAction" in s ? ["*"] : asArray(s["Action"]).filter(nonEmptyString).map((a) => a.toLowerCase()),
    notAction: "NotAction" in s,
    conditions,
  };
}

/** Does the statement name the provider: its account id, its account root, or any ARN in its account? */
export function namesProvider(s: PolicyStatement, expect: GuardrailExpectations): boolean {
  return s.principals.some(
    (p) => p === expect.providerAccountId || arnAccount(p) === expect.providerAccountId || expect.providerPrincipalArns.includes(p),
  );
}

export const isWorld = (s: PolicyStatement): boolean => s.notPrincipal || s.principals.includes("*");

/** Values of `key` under one of `operators`, each block on its own (conditions in a statement are ANDed). */
function conditionValues(s: PolicyStatement, operators: readonly string[], key: string): (readonly unknown[])[] {
  return operators.flatMap((op) => {
    const values = s.conditions.get(op)?.get(key.toLowerCase());
    return values === undefined ? [] : [values];
  });
}

/**
 * Limited to the provider's principals: some ArnEquals/ArnLike/StringEquals/StringLike block on
 * `aws:PrincipalArn` whose values are all provider principal ARNs. Those ARNs hold no wildcard, so the
 * *Like operators cannot widen them; `...IfExists` and `ForAnyValue:` forms are not accepted.
 */
export function limitedToPrincipals(s: PolicyStatement, expect: GuardrailExpectations): boolean {
  return conditionValues(s, ["ArnEquals", "ArnLike", "StringEquals", "StringLike"], "aws:PrincipalArn").some(
    (values) => values.length > 0 && values.every((v) => typeof v === "string" && expect.providerPrincipalArns.includes(v)),
  );
}

/** Encryption-context pairs the statement does not require with `StringEquals` (one exact value each). */
export function missingContext(s: PolicyStatement, expect: GuardrailExpectations): string[] {
  return Object.entries(expect.encryptionContext)
    .filter(([k, v]) => {
      const blocks = conditionValues(s, ["StringEquals"], `kms:EncryptionContext:${k}`);
      return !blocks.some((values) => values.length === 1 && values[0] === v);
    })
    .map(([k]) => k);
}

/** Actions that carry an encryption context: everything but DescribeKey (key-policy.ts gives it its own statement). */
export const needsContext = (s: PolicyStatement): boolean => s.actions.some((a) => a !== "kms:describekey");

/** Why a provider Allow is too broad (what is wrong and what is expected), or undefined when it is scoped. */
export function providerAllowProblem(s: PolicyStatement, expect: GuardrailExpectations): string | undefined {
  if (!limitedToPrincipals(s, expect)) {
    const allowed = show(expect.providerPrincipalArns);
    return `statement ${show(s.sid)} allows the provider account without limiting aws:PrincipalArn; expected ArnEquals to ${allowed}`;
  }
  const missing = needsContext(s) ? missingContext(s, expect) : [];
  if (missing.length > 0) {
    const actions = show(s.actions);
    return `statement ${show(s.sid)} allows ${actions} without the tenant's encryption context; expected StringEquals kms:EncryptionContext:<key> for ${show(missing)}`;
  }
  return undefined;
}

/** An unconditional Deny of all KMS actions for the provider's account root (research §1.5 step 5). */
export function deniesProviderAccount(s: PolicyStatement, expect: GuardrailExpectations): boolean {
  const root = (p: string) => p === expect.providerAccountId || (arnAccount(p) === expect.providerAccountId && p.endsWith(":root"));
  return (
    s.effect === "Deny" &&
    !s.notPrincipal &&
    !s.notAction &&
    s.principals.some(root) &&
    s.actions.some((a) => a === "kms:*" || a === "*") &&
    s.conditions.size === 0
  );
}

/**
 * The identities a statement admits: its `aws:PrincipalArn` values when it names them, otherwise its
 * principals (an account root admits every identity of that account).
 */
function identities(s: PolicyStatement): string[] {
  const named = conditionValues(s, ["ArnEquals", "ArnLike", "StringEquals", "StringLike"], "aws:PrincipalArn")
    .flat()
    .filter(nonEmptyString);
  return named.length > 0 ? named : [...s.principals];
}

const accountOf = (p: string): string | undefined => (/^\d{12}$/.test(p) ? p : arnAccount(p));
const isAccount = (p: string): boolean => /^\d{12}$/.test(p) || /^arn:[^:]+:iam::\d{12}:root$/.test(p);
const overlap = (a: string, b: string): boolean =>
  a === b || ((isAccount(a) || isAccount(b)) && accountOf(a) !== undefined && accountOf(a) === accountOf(b));

/**
 * A CreateGrant that cannot be turned into anyone's use but the provider's, within the spec: grantee
 * pinned to provider principals (exact values) and every granted operation one of the spec's.
 */
function grantsOnlyToProvider(s: PolicyStatement, expect: GuardrailExpectations): boolean {
  const pinned = (key: string, allowed: readonly string[], operators: readonly string[]) =>
    conditionValues(s, operators, key).some((values) => values.length > 0 && values.every((v) => typeof v === "string" && allowed.includes(v)));
  return (
    pinned("kms:GranteePrincipal", expect.providerPrincipalArns, ["StringEquals", "ArnEquals"]) &&
    pinned("kms:GrantOperations", expect.grantOperations, ["ForAllValues:StringEquals"])
  );
}

export interface NonProviderUse {
  readonly statement: PolicyStatement;
  /** Lower-cased KMS actions that use the key or hand out its use. */
  readonly uses: readonly string[];
  /** The statement through which these identities administer the key, if any. */
  readonly administeredBy: PolicyStatement | undefined;
}

/**
 * Allows of key use or grant creation to AWS principals other than the provider's (issue 12, defect 2).
 * Wildcards and NotAction are expanded against every KMS action. Service principals are not judged here
 * (AWS services using an audit key under their documented statements). The caller decides which of
 * these are violations: on an audit key a reader that administers nothing may decrypt.
 */
export function nonProviderUses(statements: readonly PolicyStatement[], expect: GuardrailExpectations): NonProviderUse[] {
  const candidates = statements.filter((s) => s.effect === "Allow" && !isWorld(s) && s.principals.length > 0 && !namesProvider(s, expect));
  const administering = candidates.filter((s) => expandKmsActions(s.actions).some(isKeyAdministration));
  return candidates.flatMap((s) => {
    const uses = expandKmsActions(s.actions).filter((a) => isKeyUse(a) || (isGrantCreation(a) && !grantsOnlyToProvider(s, expect)));
    if (uses.length === 0) return [];
    const mine = identities(s);
    const administeredBy = administering.find((a) => a === s || identities(a).some((x) => mine.some((y) => overlap(x, y))));
    return [{ statement: s, uses, administeredBy }];
  });
}

/** Provider actions beyond the spec's grant operations (issue 12, defect 3), wildcards expanded. */
export function beyondSpec(s: PolicyStatement, expect: GuardrailExpectations): string[] {
  const allowed = new Set(expect.grantOperations.map((op) => `kms:${op.toLowerCase()}`));
  return expandKmsActions(s.actions).filter((a) => !allowed.has(a));
}
