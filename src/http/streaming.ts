import { once } from "node:events";
import { PassThrough } from "node:stream";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import { AppError } from "../errors.js";
import type { EventHub } from "../operations/event-hub.js";
import type { OperationEvent } from "../operations/events.js";
import { followEvents, type EventSource } from "../operations/follow-events.js";
import type { Queryable } from "../store/db.js";
import { CONTENT_TYPE, type StreamFormat } from "./negotiate.js";
import { resetStream, watchWriteDeadline } from "./stream-deadline.js";
import { createTextFormatter } from "./text-progress.js";

export interface StreamDeps {
  readonly db: Queryable;
  readonly hub: EventHub;
  readonly keepAliveMs: number;
  /** A stream whose client takes none of its pending bytes for this long is closed (STREAM_WRITE_DEADLINE_SECONDS). */
  readonly writeDeadlineMs: number;
  readonly open: OpenStreams;
  /** Open streams one principal may hold at once (MAX_STREAMS_PER_PRINCIPAL). */
  readonly maxPerOwner: number;
}

/**
 * Open streams, so shutdown can end them: after the runner drained, a stream still open belongs to a
 * client that stopped reading or follows work another replica will do; it resumes with Last-Event-ID.
 */
export class OpenStreams {
  readonly #closers = new Set<() => void>();
  /** Open streams per owner (a principal's `kind:id`), for the per-owner cap. */
  readonly #owned = new Map<string, number>();
  /** Tracks a stream until the returned function is called; `owner` counts it towards that owner's cap. */
  add(close: () => void, owner?: string): () => void {
    this.#closers.add(close);
    if (owner === undefined) return () => this.#closers.delete(close);
    this.#owned.set(owner, this.countFor(owner) + 1);
    let tracked = true;
    return () => {
      if (!tracked) return;
      tracked = false;
      this.#closers.delete(close);
      const left = this.countFor(owner) - 1;
      if (left > 0) this.#owned.set(owner, left);
      else this.#owned.delete(owner);
    };
  }
  /**
   * Refuses one more stream for `owner` when it already holds `max` open. Call it, then `add`, in the
   * same synchronous step, so nothing can open a stream in between.
   */
  reserve(owner: string, max: number): void {
    if (this.countFor(owner) >= max) {
      throw new AppError("TOO_MANY_STREAMS", `At most ${max} event streams may be open at once; close one before opening another.`);
    }
  }
  /** Streams open now (all owners). */
  get size(): number {
    return this.#closers.size;
  }
  countFor(owner: string): number {
    return this.#owned.get(owner) ?? 0;
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
  /** Whose stream this is (a principal's `kind:id`); with `maxPerOwner`, more open streams are refused with 429. */
  readonly owner?: string | undefined;
  readonly maxPerOwner?: number | undefined;
}

/** The most text one write of a stream carries when events arrive together (then the next write). */
const MAX_BATCH_CHARS = 64 * 1024;

/** SSE: `id` is the event seq (resume with Last-Event-ID); JSON has no raw newlines, so one event is one message. */
export function sse<E extends { readonly seq: number; readonly type: string }>(e: E): string {
  return `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

function formatterFor<E extends { readonly seq: number; readonly type: string }>(
  format: StreamFormat,
  textHeader: string,
  text: (header: string) => (event: E) => string,
): (e: E) => string {
  if (format === "sse") return (e) => serializedOnce(sseFrames, e, sse);
  if (format === "ndjson") return (e) => serializedOnce(ndjsonLines, e, (x) => `${JSON.stringify(x)}\n`);
  return text(textHeader);
}

/**
 * A live event reaches every follower as the same object (the hub delivers it in-process): its frame is
 * serialized once for all of them, not once per client. Events are never mutated after they are published.
 */
const sseFrames = new WeakMap<object, string>();
const ndjsonLines = new WeakMap<object, string>();
function serializedOnce<E extends object>(cache: WeakMap<object, string>, event: E, serialize: (e: E) => string): string {
  let frame = cache.get(event);
  if (frame === undefined) {
    frame = serialize(event);
    cache.set(event, frame);
  }
  return frame;
}

/**
 * Streams an operation's events from `after` until its terminal event, then ends the response. Every
 * event comes from the table (or the hub, after commit), so what a client sees is already durable.
 */
export function streamOperation(reply: FastifyReply, deps: StreamDeps, req: StreamRequest): FastifyReply {
  return streamEvents<OperationEvent>(reply, deps, { ...req, id: req.operationId, logContext: { operationId: req.operationId }, text: createTextFormatter });
}

/** Another event sequence than an operation's (a fleet rollout's): its source and its text view. */
export interface EventStreamRequest<E extends { readonly seq: number; readonly type: string }> extends Omit<StreamRequest, "operationId"> {
  readonly id: string;
  /** What the stream's log lines name it by (`{ operationId }`, `{ rolloutId }`). */
  readonly logContext: Readonly<Record<string, string>>;
  readonly source?: EventSource<E>;
  readonly text: (header: string) => (event: E) => string;
}

/** streamOperation for any persisted event sequence with a final event. */
export function streamEvents<E extends { readonly seq: number; readonly type: string }>(reply: FastifyReply, deps: StreamDeps, req: EventStreamRequest<E>): FastifyReply {
  // Before any header is sent, so a refused client gets a 429 problem, not a broken stream.
  if (req.owner !== undefined && req.maxPerOwner !== undefined) deps.open.reserve(req.owner, req.maxPerOwner);
  const out = new PassThrough();
  const abort = new AbortController();
  // Tracked until the response itself closes (flushed or disconnected), not until the pump ends: a
  // client that stopped reading keeps unflushed bytes, and its socket, open after the last event.
  const untrack = deps.open.add(() => {
    abort.abort();
    reply.raw.destroy();
  }, req.owner);
  // The client's own backpressure decides how long a stream it does not read lasts, not the kernel's buffers.
  const deadline = watchWriteDeadline({
    out,
    res: reply.raw,
    deadlineMs: deps.writeDeadlineMs,
    onExpired: (pendingBytes) => {
      req.log.warn(
        { ...req.logContext, pendingBytes, writeDeadlineSeconds: deps.writeDeadlineMs / 1000 },
        "event stream closed: the client took none of its pending bytes within the write deadline",
      );
      resetStream(reply.raw);
    },
  });
  reply.raw.on("close", () => {
    deadline.stop();
    abort.abort();
    untrack();
  });
  const format = formatterFor(req.format, req.textHeader, req.text);

  const pump = async () => {
    // Only on an idle connection: one that still holds unsent bytes is not idle, and keep-alives written
    // while its client does not read would pile up until the deadline.
    const keepAlive =
      req.format === "sse"
        ? setInterval(() => {
            if (deadline.pendingBytes() === 0) out.write(": keep-alive\n\n");
          }, deps.keepAliveMs)
        : undefined;
    // Events that arrive together (a plan's steps, committed in one statement) leave in one write: the
    // chunks of one turn of the event loop are joined and written once it is over, not one write each —
    // up to MAX_BATCH_CHARS, so that history read back in pages still flows at the client's pace.
    let batch = "";
    let flushed: Promise<void> | undefined;
    const flushNow = (): void => {
      const chunk = batch;
      batch = "";
      if (chunk !== "" && !out.writableEnded) out.write(chunk);
    };
    const flushSoon = (): Promise<void> =>
      (flushed ??= new Promise<void>((resolve) =>
        setImmediate(() => {
          flushed = undefined;
          flushNow();
          resolve();
        }),
      ));
    try {
      const follow = followEvents<E>({
        db: deps.db,
        hub: deps.hub,
        operationId: req.id,
        after: req.after,
        signal: abort.signal,
        ...(req.source ? { source: req.source } : {}),
      });
      for await (const event of follow) {
        const chunk = format(event);
        if (!chunk) continue;
        // The client's own pace: nothing more is taken from the follower while its last write waits.
        if (out.writableNeedDrain) await once(out, "drain", { signal: abort.signal });
        batch += chunk;
        if (batch.length >= MAX_BATCH_CHARS) flushNow();
        else void flushSoon();
      }
    } catch (err) {
      if (!abort.signal.aborted) req.log.warn({ err, ...req.logContext }, "event stream ended early");
    } finally {
      clearInterval(keepAlive);
      await flushed;
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
