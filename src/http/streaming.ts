import { once } from "node:events";
import { PassThrough } from "node:stream";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import type { EventHub } from "../operations/event-hub.js";
import type { OperationEvent } from "../operations/events.js";
import { followEvents } from "../operations/follow-events.js";
import type { Queryable } from "../store/db.js";
import { CONTENT_TYPE, type StreamFormat } from "./negotiate.js";
import { createTextFormatter } from "./text-progress.js";

export interface StreamDeps {
  readonly db: Queryable;
  readonly hub: EventHub;
  readonly keepAliveMs: number;
  readonly open: OpenStreams;
}

/**
 * Open streams, so shutdown can end them: after the runner drained, a stream still open belongs to a
 * client that stopped reading or follows work another replica will do; it resumes with Last-Event-ID.
 */
export class OpenStreams {
  readonly #closers = new Set<() => void>();
  add(close: () => void): () => void {
    this.#closers.add(close);
    return () => this.#closers.delete(close);
  }
  closeAll(): void {
    for (const close of [...this.#closers]) close();
  }
}

export interface StreamRequest {
  readonly operationId: string;
  readonly after: number;
  readonly format: StreamFormat;
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** First line of the text view (operation, provider, engine). */
  readonly textHeader: string;
  readonly log: FastifyBaseLogger;
}

/** SSE: `id` is the event seq (resume with Last-Event-ID); JSON has no raw newlines, so one event is one message. */
export function sse(e: OperationEvent): string {
  return `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

function formatterFor(format: StreamFormat, textHeader: string): (e: OperationEvent) => string {
  if (format === "sse") return sse;
  if (format === "ndjson") return (e) => `${JSON.stringify(e)}\n`;
  return createTextFormatter(textHeader);
}

/**
 * Streams an operation's events from `after` until its terminal event, then ends the response. Every
 * event comes from the table (or the hub, after commit), so what a client sees is already durable.
 */
export function streamOperation(reply: FastifyReply, deps: StreamDeps, req: StreamRequest): FastifyReply {
  const out = new PassThrough();
  const abort = new AbortController();
  // Tracked until the response itself closes (flushed or disconnected), not until the pump ends: a
  // client that stopped reading keeps unflushed bytes, and its socket, open after the last event.
  const untrack = deps.open.add(() => {
    abort.abort();
    reply.raw.destroy();
  });
  reply.raw.on("close", () => {
    abort.abort();
    untrack();
  });
  const format = formatterFor(req.format, req.textHeader);

  const pump = async () => {
    const keepAlive =
      req.format === "sse" ? setInterval(() => out.write(": keep-alive\n\n"), deps.keepAliveMs) : undefined;
    try {
      for await (const event of followEvents({ db: deps.db, hub: deps.hub, operationId: req.operationId, after: req.after, signal: abort.signal })) {
        const chunk = format(event);
        if (chunk && !out.write(chunk)) await once(out, "drain", { signal: abort.signal });
      }
    } catch (err) {
      if (!abort.signal.aborted) req.log.warn({ err, operationId: req.operationId }, "event stream ended early");
    } finally {
      clearInterval(keepAlive);
      out.end();
    }
  };
  void pump();

  return reply
    .code(req.status)
    .headers({
      "content-type": CONTENT_TYPE[req.format],
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
      ...req.headers,
    })
    .send(out);
}
