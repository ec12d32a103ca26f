import { changeLine, diffSpecs } from "../diff";
import type { ApprovalItem } from "../types";

// The "Spec change" of a request: the provider's current spec against the one the operation would run.

const SPEC_UNCHANGED_INTENTS = new Set(["revoke", "reinstate", "decommission"]);

export function SpecChanges({ item, currentSpec }: { item: ApprovalItem; currentSpec: Record<string, unknown> | null }) {
  return (
    <section>
      <h3>Spec change</h3>
      <SpecChangeBody item={item} currentSpec={currentSpec} />
    </section>
  );
}

function SpecChangeBody({ item, currentSpec }: { item: ApprovalItem; currentSpec: Record<string, unknown> | null }) {
  if (item.spec === undefined) {
    return SPEC_UNCHANGED_INTENTS.has(item.intent)
      ? <p>No change to the spec.</p>
      : <p class="muted">The request does not include its spec, so the change cannot be shown. Review the spec hash.</p>;
  }
  const changes = diffSpecs(currentSpec ?? {}, item.spec);
  if (changes.length === 0) return <p>No change to the spec.</p>;
  return (
    <>
      {currentSpec === null && <p class="muted">The provider does not exist yet: every field is new.</p>}
      <ul class="diff">
        {changes.map((c) => <li key={c.path} class={`diff-${c.kind}`}><code>{changeLine(c)}</code></li>)}
      </ul>
    </>
  );
}
