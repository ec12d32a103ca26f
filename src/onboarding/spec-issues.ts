import type { z } from "zod";
import { toPointer, type FieldError } from "../errors.js";

type Issue = z.core.$ZodIssue;

export interface FieldErrorOptions {
  /**
   * At most this many errors, then one summary entry: an array of 100,000 bad items would otherwise
   * answer with a 100,000-entry problem document. Default 100.
   */
  readonly limit?: number;
}

/**
 * zod issues → problem+json `errors[]`, each pointing (RFC 6901) at the exact offending member:
 * an unknown key is reported at the key itself, a bad record key at that key, and a union failure at the
 * field inside the one branch the caller evidently meant (when there is one).
 */
export function zodIssuesToFieldErrors(issues: readonly Issue[], options: FieldErrorOptions = {}): FieldError[] {
  const limit = options.limit ?? 100;
  const out: FieldError[] = [];
  const seen = new Set<string>();
  const push = (path: readonly PropertyKey[], message: string, code: string) => {
    const pointer = toPointer(path);
    const id = `${pointer}\u0000${message}`;
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ path: pointer, message, code });
  };
  const visit = (issue: Issue, prefix: readonly PropertyKey[]) => {
    const path = [...prefix, ...issue.path];
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys) push([...path, key], "is not a known field (unknown fields are rejected)", issue.code);
        return;
      case "invalid_key":
        push(path, issue.issues[0]?.message ?? issue.message, issue.code);
        return;
      case "invalid_union": {
        const branch = intendedBranch(issue.errors);
        if (branch) for (const nested of branch) visit(nested, path);
        else push(path, issue.message, issue.code);
        return;
      }
      case "invalid_type":
        push(path, plainTypeMessage(issue.message), issue.code);
        return;
      default:
        push(path, issue.message, issue.code);
    }
  };
  for (const issue of issues) visit(issue, []);
  if (out.length <= limit) return out;
  const omitted = out.length - limit;
  return [
    ...out.slice(0, limit),
    { path: "", message: `${omitted} more error${omitted === 1 ? "" : "s"} not shown`, code: "too_many_errors" },
  ];
}

/** zod's default message for a missing member; schemas that set their own message say "is required" already. */
const REQUIRED_DEFAULT = /received undefined$/;
const TYPE_DEFAULT = /^Invalid input: expected (\w+), received (\w+)$/;

/** Rephrases zod's default type message (shared validators keep it) in the API's "must be …" voice. */
function plainTypeMessage(message: string): string {
  if (REQUIRED_DEFAULT.test(message)) return "is required";
  const m = TYPE_DEFAULT.exec(message);
  return m ? `must be of type ${m[1]} (received ${m[2]})` : message;
}

/**
 * A branch whose every issue sits below the union's own level (no wrong type, no unknown key at the top)
 * matches the shape the caller chose; when exactly one branch does, its issues are the useful ones.
 * Otherwise the union's own message (which describes the accepted shapes) is the best answer.
 */
function intendedBranch(branches: readonly (readonly Issue[])[]): readonly Issue[] | undefined {
  const plausible = branches.filter(
    (issues) => issues.length > 0 && issues.every((i) => i.path.length > 0 && !isMissingDiscriminator(i)),
  );
  return plausible.length === 1 ? plausible[0] : undefined;
}

/** A missing top-level member of a branch means the caller did not pick that branch. */
function isMissingDiscriminator(issue: Issue): boolean {
  if (issue.path.length !== 1 || issue.code !== "invalid_type") return false;
  return REQUIRED_DEFAULT.test(issue.message) || issue.message === "is required";
}
