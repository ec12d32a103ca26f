import type { OperationEvent, ResourceOp } from "../operations/events.js";

/**
 * The human progress view (`Accept: text/plain`): one line per meaningful event, e.g.
 * `[ 7/31] + aws:ec2/vpcEndpoint acme-endpoint created 1.2s`. Provider and engine text is untrusted, so
 * control characters (ANSI escapes, CR, NUL) never reach the terminal.
 */
const SYMBOL: Record<ResourceOp, string> = { create: "+", update: "~", delete: "-", replace: "+-", same: "=" };
const PAST: Record<ResourceOp, string> = {
  create: "created",
  update: "updated",
  delete: "deleted",
  replace: "replaced",
  same: "unchanged",
};

// eslint-disable-next-line no-control-regex
// Whole ANSI sequences first, then any remaining control character (keeping \t and \n).
const CONTROL = /\u001b\[[0-9;?]*[A-Za-z]|[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
export function clean(text: string): string {
  return text.replace(CONTROL, "").replace(/\n/g, " ");
}

/** Short form of an AWS type token: `aws:ec2/vpcEndpoint:VpcEndpoint` → `aws:ec2/vpcEndpoint`. */
export function shortType(token: string): string {
  const parts = token.split(":");
  return parts.length === 3 && parts[0] === "aws" ? `${parts[0]}:${parts[1]}` : token;
}

const VERDICT = { pass: "ok  ", fail: "FAIL", "not-verifiable": "??  ", "not-applicable": "n/a " } as const;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function createTextFormatter(header: string): (event: OperationEvent) => string {
  let total = 0;
  let done = 0;
  const counter = () => {
    const width = String(total).length;
    return `[${String(done).padStart(width)}/${total}]`;
  };
  let first = true;
  return (e) => {
    const prefix = first ? `${clean(header)}\n` : "";
    first = false;
    return prefix + line(e);
  };

  function line(e: OperationEvent): string {
    switch (e.type) {
      case "operation.queued":
        return e.position > 0 ? `queued behind ${e.position} operation(s) on this provider\n` : "queued\n";
      case "approval.requested":
        return `awaiting approval (${clean(e.rule)}${e.decommission ? `; BYOK key: ${e.decommission.key}` : ""}) by someone other than ${clean(e.requestedBy)}, until ${clean(e.expiresAt)}\n`;
      case "approval.approved":
        return `approved by ${clean(e.approvedBy)}\n`;
      case "operation.started":
        return `started (attempt ${e.attempt}, engine ${clean(e.engine)})\n`;
      case "resource.planned":
      case "resource.started":
        return "";
      case "progress":
        total = e.total;
        done = Math.max(done, e.done);
        return e.done === 0 ? `plan: ${e.total} resource(s)\n` : "";
      case "resource.completed":
        // The engine reports progress after each completion; count here so the line shows itself.
        done += 1;
        return `${counter()} ${SYMBOL[e.op]} ${shortType(clean(e.resourceType))} ${clean(e.name)} ${PAST[e.op]} ${seconds(e.durationMs)}\n`;
      case "resource.failed":
        done += 1;
        return `${counter()} ! ${shortType(clean(e.resourceType))} ${clean(e.name)} failed: ${clean(e.message)}\n`;
      case "diagnostic":
        return `${e.severity}: ${clean(e.message)}\n`;
      case "guardrail.violation":
        return `guardrail ${clean(e.code)}: ${clean(e.message)}\n`;
      case "security.access-reopened":
      case "security.hub-policy-drifted":
      case "security.access-verification-failed":
        return `CRITICAL: ${clean(e.message)}\n`;
      case "verification.started":
        return `verifying in the cloud that access is ${e.expectation === "active" ? "as the spec says" : "gone"}: ${e.checks} check(s), reader ${clean(e.reader)}\n`;
      case "verification.checked":
        return `  ${VERDICT[e.status]} ${e.code}: ${clean(e.message)}\n`;
      case "verification.finished":
        return `verification ${e.status} (${e.calls} read call(s), ${seconds(e.durationMs)})\n`;
      case "operation.succeeded": {
        const parts = Object.entries(e.summary)
          .filter(([, n]) => n > 0)
          .map(([op, n]) => `${n} ${PAST[op as ResourceOp]}`);
        return `succeeded in ${seconds(e.durationMs)}${parts.length ? `: ${parts.join(", ")}` : ""}\n`;
      }
      case "operation.failed":
        return `failed: ${clean(e.error.message)} (${clean(e.error.code)})\n`;
      case "operation.cancelled":
        return `cancelled: ${clean(e.reason)}\n`;
      case "operation.interrupted":
        return `interrupted: ${clean(e.reason)}\n`;
      case "operation.resuming":
        done = 0;
        return `attempt ${e.attempt} stopped (${clean(e.reason)}); resuming as attempt ${e.nextAttempt} of ${e.maxAttempts}\n`;
    }
  }
}
