import { useState } from "preact/hooks";
import { ApiError, api, messageOf, seg } from "../api";
import { diffSpecs } from "../diff";
import type { ApprovalItem } from "../types";
import { Alert, Time } from "../ui";
import { PlannedChanges } from "./planned-changes";
import { SpecChanges } from "./spec-changes";

// One pending request: who asked for what, what it changes, and the decision form.

const COMMENT_MAX = 1000;
const SELF_APPROVAL_MESSAGE = "You requested this change, so you cannot approve it: a second person must.";

export interface ApprovalRequestProps {
  item: ApprovalItem;
  currentSpec: Record<string, unknown> | null;
  onDecided: (message: string) => void;
}

export function ApprovalRequest({ item, currentSpec, onDecided }: ApprovalRequestProps) {
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { approval } = item;
  const id = item.operationId;
  const headingId = `approval-${id}`;
  const specDiffers = item.spec !== undefined && diffSpecs(currentSpec ?? {}, item.spec).length > 0;

  async function decide(action: "approve" | "reject") {
    setBusy(true);
    setError(null);
    const text = comment.trim() || undefined;
    const body = action === "approve" ? { specHash: approval.specHash, comment: text } : { comment: text };
    try {
      await api(`/v1/operations/${seg(id)}/${action}`, { method: "POST", body });
      onDecided(action === "approve" ? "Approved." : "Rejected.");
    } catch (e) {
      setError(isSelfApproval(e) ? SELF_APPROVAL_MESSAGE : messageOf(e));
      setBusy(false);
    }
  }

  return (
    <article class="card" aria-labelledby={headingId}>
      <h2 id={headingId}>{item.intent} {item.provider}</h2>
      <dl class="facts">
        <dt>Requested by</dt><dd>{approval.requestedBy}</dd>
        <dt>Requested</dt><dd><Time value={approval.requestedAt} /></dd>
        <dt>Rule</dt><dd>{approval.rule}</dd>
        <dt>Expires</dt><dd><Time value={approval.expiresAt} /></dd>
        <dt>Operation</dt><dd><code>{id}</code></dd>
        <dt>Spec hash</dt><dd><code class="hash">{approval.specHash}</code></dd>
        {item.decommission && (<><dt>BYOK key</dt><dd>{keyDisposition(item.decommission.key)}</dd></>)}
      </dl>
      <SpecChanges item={item} currentSpec={currentSpec} />
      <section>
        <h3>Planned changes</h3>
        <p>{consequence(item)}</p>
        {(item.intent === "update" || specDiffers) && item.spec && <PlannedChanges provider={item.provider} spec={item.spec} />}
      </section>
      <form class="stack decision" onSubmit={(e) => e.preventDefault()}>
        <label for={`comment-${id}`}>Comment</label>
        <textarea id={`comment-${id}`} maxLength={COMMENT_MAX} rows={3} value={comment}
          onInput={(e) => setComment(e.currentTarget.value)} />
        <div class="actions">
          <button type="button" disabled={busy} onClick={() => decide("approve")}>Approve</button>
          <button type="button" class="danger" disabled={busy} onClick={() => decide("reject")}>Reject</button>
        </div>
      </form>
      <Alert message={error} />
    </article>
  );
}

/** SELF_APPROVAL is the new code; until it lands the server answers FORBIDDEN naming the requester. */
function isSelfApproval(error: unknown): boolean {
  if (!(error instanceof ApiError) || error.status !== 403) return false;
  return error.code === "SELF_APPROVAL" || /second person|requester|your own|self-approv/i.test(error.detail);
}

function keyDisposition(key: "retain" | "shred"): string {
  return key === "shred"
    ? "shred: scheduled for deletion, so the data it encrypted can no longer be read (crypto-shredding)"
    : "retain: disabled and kept";
}

/** What the operation does, in words, for the intents whose effect a spec diff does not show. */
function consequence(item: ApprovalItem): string {
  switch (item.intent) {
    case "decommission": {
      const key = item.decommission?.key === "shred"
        ? "The BYOK key is shredded (scheduled for deletion)."
        : "The BYOK key is disabled and retained.";
      return `Decommissioning destroys the provider's stack. Retained: the audit and log buckets, the trail and the logging key. ${key}`;
    }
    case "revoke":
      return "Revoking cuts the provider's access now (grants, ingress rules and firewall rules go; a deny network ACL and a quarantine policy apply) and keeps all data: the key, endpoint, subnets, trail and logs stay.";
    case "reinstate":
      return "Reinstating restores the provider's access as its spec allows.";
    case "create":
      return "Onboarding creates the provider's stack as the spec says.";
    default:
      return "The preview lists the resources this change would create, update, replace or delete.";
  }
}
