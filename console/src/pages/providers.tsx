import { useEffect, useState } from "preact/hooks";
import { api, messageOf } from "../api";
import { markReady } from "../ready";
import { providerHref } from "../router";
import type { ProviderList, ProviderSummary } from "../types";
import { Alert, DataTable, Loading, PageHeading, Status, Time, usePageTitle } from "../ui";
import { words } from "./provider-status";

// The providers of the caller's teams, filtered, 50 at a time.

// The enums of GET /v1/providers (openapi: lifecycle, drift query parameters).
const LIFECYCLES = ["provisioning", "active", "revoked", "decommissioning", "decommissioned", "failed"];
const DRIFTS = ["in_sync", "drifted", "unknown"];

interface Filters {
  team: string;
  lifecycle: string;
  drift: string;
}

function listUrl(filters: Filters, cursor?: string): string {
  const query = new URLSearchParams();
  if (filters.team.trim()) query.set("team", filters.team.trim());
  if (filters.lifecycle) query.set("lifecycle", filters.lifecycle);
  if (filters.drift) query.set("drift", filters.drift);
  query.set("limit", "50");
  if (cursor) query.set("cursor", cursor);
  return `/v1/providers?${query}`;
}

export function ProvidersPage() {
  usePageTitle("Providers");
  const [draft, setDraft] = useState<Filters>({ team: "", lifecycle: "", drift: "" });
  const [filters, setFilters] = useState<Filters>(draft);
  const [items, setItems] = useState<ProviderSummary[] | null>(null);
  const [cursor, setCursor] = useState<string | undefined>();
  const [error, setError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);

  useEffect(() => {
    let current = true;
    setItems(null);
    setError(null);
    api<ProviderList>(listUrl(filters))
      .then((page) => {
        if (!current) return;
        setItems(page.items);
        setCursor(page.nextCursor);
      })
      .catch((e: unknown) => current && setError(messageOf(e)))
      .finally(markReady);
    return () => {
      current = false;
    };
  }, [filters]);

  async function more() {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await api<ProviderList>(listUrl(filters, cursor));
      setItems((old) => [...(old ?? []), ...page.items]);
      setCursor(page.nextCursor);
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setLoadingMore(false);
    }
  }

  const set = (field: keyof Filters) => (event: Event) =>
    setDraft({ ...draft, [field]: (event.currentTarget as HTMLInputElement | HTMLSelectElement).value });

  return (
    <>
      <PageHeading>Providers</PageHeading>
      <form class="filters" onSubmit={(e) => { e.preventDefault(); setFilters({ ...draft }); }}>
        <div class="field">
          <label for="filter-team">Team</label>
          <input id="filter-team" type="text" value={draft.team} onInput={set("team")} />
        </div>
        <div class="field">
          <label for="filter-lifecycle">Lifecycle</label>
          <select id="filter-lifecycle" value={draft.lifecycle} onChange={set("lifecycle")}>
            <option value="">any</option>
            {LIFECYCLES.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="filter-drift">Drift</label>
          <select id="filter-drift" value={draft.drift} onChange={set("drift")}>
            <option value="">any</option>
            {DRIFTS.map((v) => <option key={v} value={v}>{words(v)}</option>)}
          </select>
        </div>
        <button type="submit">Apply filters</button>
      </form>
      <Alert message={error} />
      {items === null && !error && <Loading what="providers" />}
      {items && items.length === 0 && <p>No providers match.</p>}
      {items && items.length > 0 && <ProvidersTable items={items} />}
      {items && cursor && (
        <button type="button" class="secondary" disabled={loadingMore} onClick={more}>More</button>
      )}
      <Status>{items ? `${items.length} provider${items.length === 1 ? "" : "s"} shown.` : ""}</Status>
    </>
  );
}

function ProvidersTable({ items }: { items: ProviderSummary[] }) {
  return (
    <DataTable caption="Providers" columns={["Name", "Team", "Lifecycle", "Drift status", "Updated"]}>
      {items.map((p) => (
        <tr key={p.name}>
          <th scope="row"><a href={providerHref(p.name)}>{p.name}</a></th>
          <td>{p.team}</td>
          <td>{p.lifecycle}</td>
          <td>{words(p.drift.status)}</td>
          <td><Time value={p.updatedAt} /></td>
        </tr>
      ))}
    </DataTable>
  );
}
