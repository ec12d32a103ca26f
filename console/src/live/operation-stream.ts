import { api, seg } from "../api";
import type { Operation, OperationEvent, StreamTicket } from "../types";

// Follows one operation's events over SSE. EventSource cannot send an Authorization header, so each
// connection starts with a short-lived stream ticket (60 s); when the connection drops, a new ticket
// and `after=<last seq>` resume exactly where it stopped.

export const TERMINAL_TYPES = new Set([
  "operation.succeeded", "operation.failed", "operation.cancelled", "operation.interrupted",
]);
const FINISHED: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled", "interrupted"]);

// Named SSE events (`event: <type>`) reach only listeners for that name, not onmessage.
const EVENT_TYPES = [
  "operation.queued", "approval.requested", "approval.approved", "operation.started", "operation.resuming",
  "resource.planned", "resource.started", "resource.completed", "resource.failed", "diagnostic",
  "guardrail.violation", "progress", "verification.started", "verification.checked", "verification.finished",
  "security.access-reopened", "security.access-verification-failed", "security.hub-policy-drifted",
  ...TERMINAL_TYPES,
];

const MAX_RETRIES = 10;
const MAX_DELAY_MS = 10_000;

export interface StreamHandlers {
  onEvent(event: OperationEvent): void;
  /** The operation finished: after its terminal event, or found finished while reconnecting. */
  onFinished(operation: Operation | null): void;
  onGiveUp(message: string): void;
}

/** Starts following; the returned function stops (closes the stream, cancels a pending retry). */
export function followOperation(id: string, handlers: StreamHandlers): () => void {
  let lastSeq = 0;
  let failures = 0;
  let stopped = false;
  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const receive = (message: MessageEvent<string>) => {
    if (stopped) return;
    let event: OperationEvent;
    try {
      event = JSON.parse(message.data) as OperationEvent;
    } catch {
      return;
    }
    if (event.seq <= lastSeq) return; // already seen before a reconnect
    lastSeq = event.seq;
    failures = 0;
    handlers.onEvent(event);
    if (TERMINAL_TYPES.has(event.type)) finish(null);
  };

  function finish(operation: Operation | null) {
    stopped = true;
    source?.close();
    handlers.onFinished(operation);
  }

  async function connect() {
    try {
      const ticket = await api<StreamTicket>(`/v1/operations/${seg(id)}/stream-tickets`, { method: "POST" });
      if (stopped) return;
      const url = lastSeq > 0 ? `${ticket.links.events}${ticket.links.events.includes("?") ? "&" : "?"}after=${lastSeq}` : ticket.links.events;
      source = new EventSource(url);
      for (const type of EVENT_TYPES) source.addEventListener(type, receive);
      source.onmessage = receive;
      source.onerror = () => {
        source?.close();
        void retry();
      };
    } catch {
      void retry();
    }
  }

  // The stream ended without a terminal event: an expired ticket, a restart, or (204) nothing more
  // to send. Ask the operation first: finished means done, otherwise back off and resume.
  async function retry() {
    if (stopped) return;
    try {
      const operation = await api<Operation>(`/v1/operations/${seg(id)}`);
      if (stopped) return;
      if (FINISHED.has(operation.status)) return finish(operation);
    } catch {
      // unknown: keep trying below
    }
    if (failures >= MAX_RETRIES) {
      stopped = true;
      handlers.onGiveUp(`Lost the live progress of operation ${id} after ${MAX_RETRIES} tries. Reload the page to try again.`);
      return;
    }
    const delay = Math.min(1000 * 2 ** failures, MAX_DELAY_MS);
    failures += 1;
    timer = setTimeout(() => void connect(), delay);
  }

  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}
