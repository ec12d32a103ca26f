import { useEffect, useState } from "preact/hooks";
import { api, isStatus, messageOf } from "../api";
import { markReady } from "../ready";
import type { AuditPage as AuditRecords, AuditRecord, AuditVerification } from "../types";
import { Alert, DataTable, Loading, PageHeading, Time, usePageTitle } from "../ui";

// The audit trail (auditors and admins): is the hash chain intact, and the latest records.

const FORBIDDEN_MESSAGE = "Your role cannot read the audit trail (auditor or admin needed).";

type Loaded<T> = { value: T } | { error: unknown };

export function AuditPage() {
  usePageTitle("Audit");
  const [verification, setVerification] = useState<Loaded<AuditVerification> | null>(null);
  const [records, setRecords] = useState<Loaded<AuditRecords> | null>(null);

  useEffect(() => {
    const settle = <T,>(p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error }));
    void Promise.all([
      settle(api<AuditVerification>("/v1/audit/verify")).then(setVerification),
      settle(api<AuditRecords>("/v1/audit?order=desc&limit=50")).then(setRecords),
    ]).finally(markReady);
  }, []);

  const forbidden = [verification, records].some((r) => r && "error" in r && isStatus(r.error, 403));
  return (
    <>
      <PageHeading>Audit</PageHeading>
      {forbidden ? <Alert message={FORBIDDEN_MESSAGE} /> : (
        <>
          <section aria-labelledby="verify-heading">
            <h2 id="verify-heading">Verify the audit trail</h2>
            {!verification ? <Loading what="the verification" /> : "error" in verification
              ? <Alert message={messageOf(verification.error)} />
              : <VerificationResult result={verification.value} />}
          </section>
          <section aria-labelledby="records-heading">
            <h2 id="records-heading">Recent records</h2>
            {!records ? <Loading what="the audit records" /> : "error" in records
              ? <Alert message={messageOf(records.error)} />
              : <RecordsTable items={records.value.items} />}
          </section>
        </>
      )}
    </>
  );
}

function VerificationResult({ result }: { result: AuditVerification }) {
  const { head } = result;
  return (
    <div class={result.ok ? "verdict ok" : "verdict broken"}>
      <p>
        <strong>{result.ok ? "Intact:" : "Broken:"}</strong>{" "}
        {result.ok
          ? `the chain of ${result.records} record${result.records === 1 ? "" : "s"} verifies from the first record to the head.`
          : `the chain breaks at record ${result.firstBroken?.seq ?? "?"}: ${result.firstBroken?.reason ?? ""}${result.firstBroken?.detail ? ` (${result.firstBroken.detail})` : ""}.`}
      </p>
      <dl class="facts">
        <dt>Records</dt><dd>{result.records}</dd>
        <dt>Head</dt><dd>seq {head.seq}, hash <code class="hash">{head.hash}</code></dd>
        <dt>Last signed head</dt>
        <dd>
          {head.lastSignedSeq === null ? "no signed head yet" : <>seq {head.lastSignedSeq}{head.lastSignedAt && <>, signed <Time value={head.lastSignedAt} /></>}</>}
        </dd>
        {result.signatures !== undefined && (<><dt>Signatures verified</dt><dd>{result.signatures}</dd></>)}
      </dl>
    </div>
  );
}

function RecordsTable({ items }: { items: AuditRecord[] }) {
  if (items.length === 0) return <p>No audit records yet.</p>;
  return (
    <DataTable caption="Recent audit records" columns={["Seq", "Time", "Principal", "Action", "Resource", "Outcome"]}>
      {items.map((r) => (
        <tr key={r.seq}>
          <th scope="row">{r.seq}</th>
          <td><Time value={r.at} /></td>
          <td>{r.principal.name ?? r.principal.id} <span class="muted">({r.principal.kind})</span></td>
          <td>{r.action}</td>
          <td>{r.resource.kind} {r.resource.id}</td>
          <td>{r.outcome}</td>
        </tr>
      ))}
    </DataTable>
  );
}
