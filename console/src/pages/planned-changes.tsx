import { useState } from "preact/hooks";
import { api, messageOf, seg } from "../api";
import { LiveProgress } from "../live/live-progress";
import type { Accepted, EventList, OperationEvent } from "../types";
import { Alert } from "../ui";

// "Preview this change": runs a preview of the request's spec and lists the steps it would take.

export function PlannedChanges({ provider, spec }: { provider: string; spec: Record<string, unknown> }) {
  const [operationId, setOperationId] = useState<string | null>(null);
  const [planned, setPlanned] = useState<OperationEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function preview() {
    setBusy(true);
    setError(null);
    setPlanned(null);
    try {
      const accepted = await api<Accepted>(`/v1/providers/${seg(provider)}/preview`, { method: "POST", body: spec });
      setOperationId(accepted.operation.id);
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  }

  async function finished(id: string) {
    try {
      setPlanned(await plannedSteps(id));
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  }

  const changing = planned?.filter((e) => e.op !== "same") ?? [];
  return (
    <div class="preview">
      <button type="button" class="secondary" disabled={busy} onClick={preview}>Preview this change</button>
      <Alert message={error} />
      {operationId && <LiveProgress key={operationId} operationId={operationId} onFinished={finished} />}
      {planned && (changing.length === 0 ? <p>No resource would change.</p> : (
        <ul class="planned" aria-label="Planned steps">
          {changing.map((e) => <li key={e.seq}>{e.op}: {e.resourceType} {e.name}</li>)}
        </ul>
      ))}
      {planned && planned.length > changing.length && <p class="muted">{planned.length - changing.length} resources unchanged.</p>}
    </div>
  );
}

/** Every resource.planned event of the operation, page by page (the JSON form of the events). */
async function plannedSteps(id: string): Promise<OperationEvent[]> {
  const steps: OperationEvent[] = [];
  let after = 0;
  for (let page = 0; page < 20; page++) {
    const list = await api<EventList>(`/v1/operations/${seg(id)}/events?after=${after}&limit=1000`);
    steps.push(...list.items.filter((e) => e.type === "resource.planned"));
    if (list.items.length === 0 || !list.links.next) break;
    after = list.items[list.items.length - 1]!.seq;
  }
  return steps;
}
