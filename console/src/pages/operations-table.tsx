import { providerHref } from "../router";
import type { Operation } from "../types";
import { TableWrap, Time, summaryText } from "../ui";

// The provider's operation history, newest first.

export function OperationsTable({ provider, operations }: { provider: string; operations: Operation[] }) {
  if (operations.length === 0) return <p>No operations yet.</p>;
  const newestFirst = [...operations].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return (
    <TableWrap label="Operations table">
      <table>
        <caption>Operations</caption>
        <thead>
          <tr>
            <th scope="col">Intent</th>
            <th scope="col">Status</th>
            <th scope="col">Attempt</th>
            <th scope="col">Created</th>
            <th scope="col">Finished</th>
            <th scope="col">Changes</th>
          </tr>
        </thead>
        <tbody>
          {newestFirst.map((op) => (
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
        </tbody>
      </table>
    </TableWrap>
  );
}
