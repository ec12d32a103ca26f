import type { ServerResponse } from "node:http";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";

export interface WriteDeadlineOptions {
  /** The service's own buffer in front of the response (the stream's pump writes into it). */
  readonly out: Duplex;
  readonly res: ServerResponse;
  readonly deadlineMs: number;
  /** Runs once, when bytes have waited `deadlineMs` without the client taking any of them. */
  readonly onExpired: (pendingBytes: number) => void;
}

export interface WriteDeadline {
  /** Bytes written and not yet taken by the kernel: in `out`, in the response, in its socket. */
  pendingBytes(): number;
  stop(): void;
}

/**
 * Issue 14: a client that stopped reading keeps its socket, the service's buffers and a slot of its
 * principal's stream cap for as long as it likes, after its operation ended too. This watches the
 * service's own write backpressure: while bytes are pending and the kernel takes none of them for
 * `deadlineMs`, the stream has expired. A stream with nothing pending (a quiet operation) never does.
 *
 * "Taken" is what Node can see: bytes whose socket writes completed. Linux reports a full socket
 * writable again only once about a third of its send buffer drained (measured on loopback, 4 MiB
 * autotuned: every ~1.5 MB), so a client that fell that far behind must read about that much per
 * deadline to count as reading (~25 KB/s with the 60 s default). One it cuts off resumes with
 * Last-Event-ID.
 */
export function watchWriteDeadline(options: WriteDeadlineOptions): WriteDeadline {
  const { out, res, deadlineMs } = options;
  const pendingBytes = () => out.writableLength + out.readableLength + res.writableLength;
  // The response's chunks reach the socket as Buffers and ASCII chunk framing, so both counts are bytes.
  const taken = () => (res.socket ? res.socket.bytesWritten - res.socket.writableLength : 0);
  const tickMs = Math.max(50, Math.min(1_000, Math.floor(deadlineMs / 4)));
  let lastTaken = taken();
  let lastTick = performance.now();
  /** First tick that saw bytes pending and nothing taken since the tick before; never early, ≤ 2 ticks late. */
  let stalledSince: number | undefined;
  const timer = setInterval(() => {
    const now = performance.now();
    // The service's own pause (a blocked event loop) is not the client's: its time does not count.
    const paused = now - lastTick > 2 * tickMs;
    lastTick = now;
    const pending = pendingBytes();
    const nowTaken = taken();
    if (pending === 0 || nowTaken !== lastTaken || paused) {
      lastTaken = nowTaken;
      stalledSince = undefined;
      return;
    }
    stalledSince ??= now;
    if (now - stalledSince < deadlineMs) return;
    clearInterval(timer);
    options.onExpired(pending);
  }, tickMs);
  timer.unref();
  return { pendingBytes, stop: () => clearInterval(timer) };
}

/**
 * Closes an expired stream's connection with a reset: a plain close leaves the kernel holding its unsent
 * bytes in an orphaned socket until it gives up probing the client's zero window (measured on loopback:
 * ~3.8 MB held after the close; none after a reset). A TLS socket cannot be reset here and is destroyed.
 */
export function resetStream(res: ServerResponse): void {
  const socket = res.socket;
  if (socket instanceof Socket && !(socket instanceof TLSSocket)) socket.resetAndDestroy();
  else res.destroy();
}
