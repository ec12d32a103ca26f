import { EventEmitter } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { sse } from "../src/http/streaming.js";
import { isTerminal, type OperationEvent } from "../src/operations/events.js";

/**
 * The baseline of figure 2: plain node:http writing the service's SSE frames (same `sse()` formatter,
 * same headers) to every connected client as soon as an in-process EventEmitter fires. No database,
 * no Fastify, no history read: the cost of fan-out over loopback and nothing else.
 */
export interface BareSse {
  readonly url: string;
  publish(event: OperationEvent): void;
  close(): Promise<void>;
}

/** `first` is written on connect, as the service replays an operation's history before going live. */
export async function startBareSse(first: OperationEvent): Promise<BareSse> {
  const events = new EventEmitter().setMaxListeners(0);
  const server = createServer((_request, response) => {
    response.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    });
    response.write(sse(first));
    const onEvent = (event: OperationEvent) => {
      response.write(sse(event));
      if (isTerminal(event)) response.end();
    };
    events.on("event", onEvent);
    response.on("close", () => events.off("event", onEvent));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    publish: (event) => events.emit("event", event),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
