import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, isStatus, messageOf, seg } from "../api";
import { LiveProgress } from "../live/live-progress";
import { markReady } from "../ready";
import type { Accepted, Operation, OperationPage, Provider } from "../types";
import { Alert, JsonBlock, Loading, PageHeading, Status, usePageTitle } from "../ui";
import { OperationsTable } from "./operations-table";
import { ProviderStatus } from "./provider-status";

// One provider: status, spec, outputs, operation history, live progress, and "Verify access".

const LIVE_STATUSES = new Set(["queued", "running"]);

export function ProviderPage({ name, operationId }: { name: string; operationId?: string }) {
  usePageTitle(name);
  const [provider, setProvider] = useState<Provider | null>(null);
  const [operations, setOperations] = useState<Operation[] | null>(null);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const [historyNext, setHistoryNext] = useState<string | undefined>(undefined);
  // Whether older pages were loaded: a refresh then merges the first page instead of replacing the list.
  const paged = useRef(false);
  const [error, setError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [message, setMessage] = useState("");
  const [followed, setFollowed] = useState<string[]>(() => (operationId ? [operationId] : []));

  const load = useCallback(async () => {
    const base = `/v1/providers/${seg(name)}`;
    const [p, ops] = await Promise.allSettled([
      api<Provider>(base),
      api<OperationPage>(`${base}/operations?limit=20`),
    ]);
    if (p.status === "fulfilled") {
      setProvider(p.value);
      setError(null);
      const live = p.value.activeOperations.filter((o) => LIVE_STATUSES.has(o.status)).map((o) => o.id);
      setFollowed((ids) => [...ids, ...live.filter((id) => !ids.includes(id))]);
    } else {
      setError(isStatus(p.reason, 404) ? `There is no provider named ${name}, or it belongs to another team.` : messageOf(p.reason));
    }
    if (ops.status === "fulfilled") {
      const first = ops.value.items;
      if (paged.current) {
        // Older pages are shown: refresh the rows the first page has and add new ones on top, keep the rest.
        setOperations((shown) => {
          const fresh = new Map(first.map((o) => [o.id, o]));
          const known = new Set((shown ?? []).map((o) => o.id));
          return [...first.filter((o) => !known.has(o.id)), ...(shown ?? []).map((o) => fresh.get(o.id) ?? o)];
        });
      } else {
        setOperations(first);
        setHistoryNext(ops.value.links.next);
      }
      setHistoryError(null);
    } else {
      setHistoryError(`The operation history could not be read: ${messageOf(ops.reason)}`);
    }
  }, [name]);

  useEffect(() => {
    paged.current = false;
    void load().finally(markReady);
  }, [load]);

  useEffect(() => {
    if (operationId) setFollowed((ids) => (ids.includes(operationId) ? ids : [...ids, operationId]));
  }, [operationId]);

  /** The next page of the history (`links.next`), appended below. */
  async function olderOperations() {
    if (historyNext === undefined) return;
    try {
      const page = await api<OperationPage>(historyNext);
      paged.current = true;
      setOperations((shown) => [...(shown ?? []), ...page.items]);
      setHistoryNext(page.links.next);
    } catch (err) {
      setHistoryError(`The operation history could not be read: ${messageOf(err)}`);
    }
  }

  async function verify() {
    setActionError(null);
    setMessage("");
    try {
      const accepted = await api<Accepted>(`/v1/providers/${seg(name)}/verifications`, { method: "POST" });
      setMessage("Access verification started.");
      setFollowed((ids) => [...ids, accepted.operation.id]);
    } catch (e) {
      setActionError(messageOf(e));
    }
  }

  const finished = useCallback(() => {
    void load();
  }, [load]);

  return (
    <>
      <PageHeading>{name}</PageHeading>
      {provider && <p class="subtitle">{provider.displayName}</p>}
      <Alert message={error} />
      {!provider && !error && <Loading what="the provider" />}
      {provider && (
        <>
          <div class="actions">
            <button type="button" onClick={verify}>Verify access</button>
          </div>
          <Status>{message}</Status>
          <Alert message={actionError} />
          <ProviderStatus provider={provider} />
          <section aria-labelledby="spec-heading">
            <h2 id="spec-heading">Spec</h2>
            <JsonBlock value={provider.spec} label="Spec as JSON" />
          </section>
          <section aria-labelledby="outputs-heading">
            <h2 id="outputs-heading">Outputs</h2>
            <JsonBlock value={provider.outputs} label="Outputs as JSON" />
          </section>
        </>
      )}
      <section aria-labelledby="live-heading">
        <h2 id="live-heading">Live progress</h2>
        {followed.length === 0 ? <p class="muted">No operation is running.</p> : followed.map((id) => (
          <LiveProgress key={id} operationId={id} onFinished={finished} />
        ))}
      </section>
      <section aria-labelledby="operations-heading">
        <h2 id="operations-heading">Operations</h2>
        <Alert message={historyError} />
        {operations ? <OperationsTable provider={name} operations={operations} /> : !historyError && <Loading what="the operations" />}
        {historyNext !== undefined && (
          <button type="button" class="secondary" onClick={() => void olderOperations()}>Older operations</button>
        )}
      </section>
    </>
  );
}
