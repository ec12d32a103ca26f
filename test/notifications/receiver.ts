import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/**
 * A webhook receiver on loopback for the tests: records every request and answers as its mode says. It
 * verifies nothing itself; `verify` uses the official Standard Webhooks package (interoperability).
 */
export type ReceiverMode = "ok" | "error" | "reset" | "hang" | "redirect";

export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
  /** What the receiver answered (0: reset or hung). */
  readonly answered: number;
  readonly path: string;
}

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  mode: ReceiverMode;
  /** Requests answered with a 2xx, in arrival order. */
  accepted(): Received[];
  close(): Promise<void>;
}

export async function startReceiver(initial: ReceiverMode = "ok", path = "/hook"): Promise<Receiver> {
  const received: Received[] = [];
  const hung = new Set<import("node:http").ServerResponse>();
  const state = { mode: initial };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const mode = state.mode;
      const status = { ok: 200, error: 500, reset: 0, hang: 0, redirect: 302 }[mode];
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now(), answered: status, path: req.url ?? "" });
      if (mode === "reset") return req.socket.destroy();
      if (mode === "hang") return void hung.add(res);
      if (mode === "redirect") return res.writeHead(302, { location: "/elsewhere" }).end();
      // A long body: the service keeps at most a short excerpt of it.
      res.writeHead(status, { "content-type": "text/plain" }).end(mode === "error" ? `failing on purpose ${"x".repeat(2_000)}` : "thanks");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    received,
    get mode() {
      return state.mode;
    },
    set mode(m: ReceiverMode) {
      state.mode = m;
    },
    accepted: () => received.filter((r) => r.answered >= 200 && r.answered < 300),
    async close() {
      for (const res of hung) res.socket?.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Verifies a received request with the official package; throws when the signature does not match `secret`. */
export function verifyWith(secret: string, r: Received): unknown {
  const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)]));
  return new Webhook(secret).verify(r.body, headers);
}

/** Whether `secret` verifies the request. */
export function verifies(secret: string, r: Received): boolean {
  try {
    verifyWith(secret, r);
    return true;
  } catch {
    return false;
  }
}
