import { useCallback, useEffect, useState } from "preact/hooks";
import { api, isStatus, messageOf, seg } from "../api";
import { markReady } from "../ready";
import type { ApprovalItem, ApprovalList, Provider } from "../types";
import { Alert, Loading, PageHeading, Status, usePageTitle } from "../ui";
import { ApprovalRequest } from "./approval-request";

// Pending approval requests of the caller's teams: review the change, then approve or reject.

export type CurrentSpecs = Record<string, Record<string, unknown> | null>;

export function ApprovalsPage() {
  usePageTitle("Approvals");
  const [items, setItems] = useState<ApprovalItem[] | null>(null);
  const [specs, setSpecs] = useState<CurrentSpecs>({});
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState("");

  const load = useCallback(async () => {
    try {
      const list = await api<ApprovalList>("/v1/approvals");
      setSpecs(await currentSpecs(list.items));
      setItems(list.items);
      setError(null);
    } catch (e) {
      setError(messageOf(e));
    }
  }, []);

  useEffect(() => {
    void load().finally(markReady);
  }, [load]);

  const decided = useCallback((text: string) => {
    setMessage(text);
    void load();
  }, [load]);

  return (
    <>
      <PageHeading>Approvals</PageHeading>
      <Status>{message}</Status>
      <Alert message={error} />
      {items === null && !error && <Loading what="approval requests" />}
      {items && items.length === 0 && <p>Nothing awaits approval.</p>}
      {items?.map((item) => (
        <ApprovalRequest key={item.operationId} item={item} currentSpec={specs[item.provider] ?? null} onDecided={decided} />
      ))}
    </>
  );
}

/** Each provider's spec as it is now, once per provider; null when it cannot be read (e.g. a new one). */
async function currentSpecs(items: ApprovalItem[]): Promise<CurrentSpecs> {
  const names = [...new Set(items.map((i) => i.provider))];
  const specs = await Promise.all(names.map(async (name) => {
    try {
      return (await api<Provider>(`/v1/providers/${seg(name)}`)).spec;
    } catch (e) {
      if (isStatus(e, 404)) return null;
      throw e;
    }
  }));
  return Object.fromEntries(names.map((name, i) => [name, specs[i] ?? null]));
}
