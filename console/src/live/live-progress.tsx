import { useEffect, useRef, useState } from "preact/hooks";
import type { Operation, OperationEvent } from "../types";
import { Alert, Status, summaryText } from "../ui";
import { followOperation } from "./operation-stream";

// One operation's live progress: a <progress> bar, the latest resource steps, the final status.

const STEPS_SHOWN = 10;

interface Step {
  seq: number;
  text: string;
}

export interface LiveProgressProps {
  operationId: string;
  /** Called once, when the operation has finished (to reload what it changed). */
  onFinished?: (id: string) => void;
}

export function LiveProgress({ operationId, onFinished }: LiveProgressProps) {
  const [progress, setProgress] = useState<{ done: number; total: number | null } | null>(null);
  const [steps, setSteps] = useState<Step[]>([]);
  const [status, setStatus] = useState("connecting");
  const [failure, setFailure] = useState<string | null>(null);
  const [finished, setFinished] = useState(false);
  const finishedRef = useRef(onFinished);
  finishedRef.current = onFinished;

  useEffect(() => {
    const addStep = (step: Step) => setSteps((all) => [...all, step].slice(-STEPS_SHOWN));
    return followOperation(operationId, {
      onEvent(event) {
        if (event.type === "progress" && event.done !== undefined) setProgress({ done: event.done, total: event.total ?? null });
        // A verification sends no progress events: its checks are its steps.
        if (event.type === "verification.started" && event.checks) setProgress({ done: 0, total: event.checks });
        if (event.type === "verification.checked") setProgress((p) => (p ? { ...p, done: p.done + 1 } : p));
        const step = stepText(event);
        if (step) addStep({ seq: event.seq, text: step });
        // Succeeded means every step was processed, whether or not a last progress event came.
        if (event.type === "operation.succeeded") setProgress((p) => (p?.total ? { done: p.total, total: p.total } : p));
        const next = statusText(event);
        if (next) setStatus(next);
      },
      onFinished(operation: Operation | null) {
        if (operation) setStatus(finalText(operation));
        if (operation?.status === "succeeded") setProgress((p) => (p?.total ? { done: p.total, total: p.total } : p));
        setFinished(true);
        finishedRef.current?.(operationId);
      },
      onGiveUp: setFailure,
    });
  }, [operationId]);

  const label = `Progress of operation ${operationId}`;
  return (
    <div class="live">
      <p class="muted">Operation <code>{operationId}</code></p>
      {progress && progress.total ? (
        <progress aria-label={label} value={progress.done} max={progress.total} />
      ) : finished ? (
        <progress aria-label={label} value={1} max={1} />
      ) : (
        <progress aria-label={label} />
      )}
      <p>{progress ? `${progress.done} of ${progress.total ?? "?"}` : finished ? "Finished." : "Waiting for progress…"}</p>
      {steps.length > 0 && (
        <ol class="steps" aria-label={`Latest steps of operation ${operationId}`}>
          {steps.map((s) => <li key={s.seq}>{s.text}</li>)}
        </ol>
      )}
      <Status>Status: {status}</Status>
      <Alert message={failure} />
    </div>
  );
}

function stepText(e: OperationEvent): string | null {
  const what = `${e.resourceType ?? ""} ${e.name ?? ""}`.trim();
  switch (e.type) {
    case "resource.planned": return e.op === "same" ? null : `planned ${e.op}: ${what}`;
    case "resource.started": return `${e.op} started: ${what}`;
    case "resource.completed": return `${e.op} done: ${what}`;
    case "resource.failed": return `${e.op} failed: ${what}: ${e.message ?? ""}`;
    case "diagnostic": return e.message ? `note: ${e.message}` : null;
    case "verification.checked": return `check ${e.code ?? ""}: ${e.status ?? ""}${e.message ? ` — ${e.message}` : ""}`;
    default: return null;
  }
}

function statusText(e: OperationEvent): string | null {
  switch (e.type) {
    case "operation.queued": return `queued (position ${e.position ?? 0})`;
    case "approval.requested": return "awaiting approval";
    case "approval.approved": return "approved, queued";
    case "operation.started": return "running";
    case "operation.resuming": return `resuming: ${e.reason ?? ""}`;
    case "operation.succeeded": return withSummary("succeeded", e.summary);
    case "operation.failed": return `failed: ${e.error?.message ?? "unknown error"}`;
    case "operation.cancelled": return `cancelled${e.reason ? `: ${e.reason}` : ""}`;
    case "operation.interrupted": return `interrupted${e.reason ? `: ${e.reason}` : ""}`;
    default: return null;
  }
}

function finalText(op: Operation): string {
  if (op.status === "failed") return `failed: ${op.error?.message ?? "unknown error"}`;
  if (op.status === "succeeded") return withSummary("succeeded", op.result?.summary);
  return op.status;
}

function withSummary(status: string, summary: Parameters<typeof summaryText>[0]): string {
  const text = summaryText(summary);
  return text ? `${status} (${text})` : status;
}
