import { get } from "node:http";
import { fromParent, toParent } from "./child.js";
import { now } from "./support.js";

/**
 * Child process for figure 2: N SSE clients on one URL, so that parsing 100 streams does not share an
 * event loop with the server under test. Records when each event's chunk reached this process (on the
 * same clock as `now()` in the parent; the parent measures the offset with ping/pong first).
 */
export type ClientsRequest =
  | { type: "ping"; id: number }
  | { type: "connect"; url: string; count: number; headers: Readonly<Record<string, string>> };
export type ClientsMessage =
  | { type: "pong"; id: number; at: number }
  /** Every client has received its first event, so the server is streaming to all of them. */
  | { type: "ready"; clients: number }
  /** Per client: [seq, arrival ms] in arrival order. */
  | { type: "arrivals"; arrivals: [number, number][][]; ended: number; errors: string[] };

const DEADLINE_MS = 60_000;

function connect(url: string, count: number, headers: Readonly<Record<string, string>>): void {
  const arrivals: [number, number][][] = Array.from({ length: count }, () => []);
  const errors: string[] = [];
  let ready = 0;
  let ended = 0;
  let reported = false;
  const report = () => {
    if (reported) return;
    reported = true;
    clearTimeout(deadline);
    toParent<ClientsMessage>({ type: "arrivals", arrivals, ended, errors });
  };
  const deadline = setTimeout(report, DEADLINE_MS);
  const end = (error?: string) => {
    if (error !== undefined) errors.push(error);
    if (++ended === count) report();
  };

  arrivals.forEach((mine) => {
    let finished = false;
    const finish = (error?: string) => {
      if (finished) return;
      finished = true;
      end(error);
    };
    const request = get(url, { headers: { ...headers, accept: "text/event-stream" }, agent: false }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        finish(`status ${String(response.statusCode)}`);
        return;
      }
      response.setEncoding("utf8");
      let buffered = "";
      response.on("data", (chunk: string) => {
        const at = now();
        buffered += chunk;
        const frames = buffered.split("\n\n");
        buffered = frames.pop() ?? "";
        for (const frame of frames) {
          const id = /^id: (\d+)$/m.exec(frame)?.[1];
          if (id === undefined) continue;
          if (mine.length === 0 && ++ready === count) toParent<ClientsMessage>({ type: "ready", clients: count });
          mine.push([Number(id), at]);
        }
      });
      response.on("end", () => finish());
      response.on("error", (err) => finish(err.message));
    });
    request.on("error", (err) => finish(err.message));
  });
}

fromParent<ClientsRequest>(
  (message) => {
    if (message.type === "ping") toParent<ClientsMessage>({ type: "pong", id: message.id, at: now() });
    else connect(message.url, message.count, message.headers);
  },
  async () => undefined,
);
