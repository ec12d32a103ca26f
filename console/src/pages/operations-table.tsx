import { providerHref } from "../router";
import type { Operation } from "../types";
import { DataTable, Time, summaryText } from "../ui";

// The provider's operation history, newest first (the order GET /v1/providers/{name}/operations answers in).

export function OperationsTable({ provider, operations }: { provider: string; operations: Operation[] }) {
  if (operations.length === 0) return <p>No operations yet.</p>;
  return (
    <DataTable caption="Operations" columns={["Intent", "Status", "Attempt", "Created", "Finished", "Changes"]}>
      {operations.map((op) => (
        <tr key={op.id}>
          <th scope="row">
            <a href={`${providerHref(provider)}/operations/${encodeURIComponent(op.id)}`}>{op.intent}</a>
          </th>
          <td>{op.status.replace(/_/g, " ")}{op.status === "failed" && op.error ? `: ${op.error.message}` : ""}</td>
          <td>{op.attempt}</td>
          <td><Time value={op.createdAt} /></td>
          <td><Time value={op.finishedAt} /></td>
          <td>{summaryText(op.result?.summary) || "—"}</td>
        </tr>
      ))}
    </DataTable>
  );
}
