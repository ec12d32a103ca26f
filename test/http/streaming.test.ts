import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sse } from "../../src/http/streaming.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

type Json = Record<string, any>;
let svc: TestService;
let base: string;

beforeAll(async () => {
  svc = await startTestService({ config: { SIMULATED_STEP_MS: 25, SSE_KEEPALIVE_SECONDS: 1 } });
  await svc.app.listen({ port: 0, host: "127.0.0.1" });
  const address = svc.app.server.address();
  if (!address || typeof address === "string") throw new Error("no address");
  base = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await svc.close(5_000);
});

function parseSse(text: string): { id: number; type: string; data: Json }[] {
  return text
    .split("\n\n")
    .filter((block) => block.startsWith("id:"))
    .map((block) => {
      const fields = Object.fromEntries(block.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]));
      return { id: Number(fields.id), type: fields.event!, data: JSON.parse(fields.data!) as Json };
    });
}

describe("streaming over a real socket", () => {
  it("POST with Accept: text/plain streams [done/total] progress until the operation ends", async () => {
    const res = await fetch(`${base}/v1/providers`, {
      method: "POST",
      headers: { ...svc.authHeaders, "content-type": "application/json", accept: "text/plain" },
      body: JSON.stringify(specNamed("plain")),
    });
    expect(res.status).toBe(202);
    expect(res.headers.get("location")).toMatch(/^\/v1\/operations\//);
    const text = await res.text(); // resolves only because the stream ends after the terminal event
    expect(text).toContain("engine: simulated");
    expect(text).toMatch(/^\[\s*\d+\/\d+\] \+ aws:ec2\/vpcEndpoint plain-endpoint created \d+\.\ds$/m);
    expect(text.trim().split("\n").at(-1)).toMatch(/^succeeded in /);
  });

  it("NDJSON: one JSON event per line, gap-free seqs, ending with the terminal event", async () => {
    const res = await fetch(`${base}/v1/providers/plain/revoke`, { method: "POST", headers: { ...svc.authHeaders, accept: "application/x-ndjson" } });
    expect(res.status).toBe(202);
    const events = (await res.text()).trim().split("\n").map((l) => JSON.parse(l) as Json);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)!.type).toBe("operation.succeeded");
  });

  it("SSE: a client that disconnects and resumes with Last-Event-ID gets exactly the missing events", async () => {
    const created = (await (
      await fetch(`${base}/v1/providers`, { method: "POST", headers: { ...svc.authHeaders, "content-type": "application/json" }, body: JSON.stringify(specNamed("resume")) })
    ).json()) as Json;
    const url = `${base}/v1/operations/${created.operation.id}/events`;

    // First connection: read a few events, then hang up mid-operation.
    const ac = new AbortController();
    const first = await fetch(url, { headers: { ...svc.authHeaders, accept: "text/event-stream" }, signal: ac.signal });
    expect(first.headers.get("content-type")).toContain("text/event-stream");
    const reader = first.body!.getReader();
    let buffered = "";
    for (let i = 0; i < 200 && parseSse(buffered).length < 5; i++) buffered += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    // Only complete frames count as received.
    const received = parseSse(buffered.slice(0, buffered.lastIndexOf("\n\n") + 2));
    expect(received.length).toBeGreaterThanOrEqual(5);
    const lastId = received.at(-1)!.id;

    const second = await fetch(url, { headers: { ...svc.authHeaders, accept: "text/event-stream", "last-event-id": String(lastId) } });
    const rest = parseSse(await second.text());
    const all = [...received, ...rest].map((e) => e.id);
    expect(all).toEqual(all.map((_, i) => i + 1));
    expect(rest.at(-1)!.type).toBe("operation.succeeded");

    // ?after= is the same resume point for clients that cannot set headers.
    const viaQuery = parseSse(await (await fetch(`${url}?after=${lastId}`, { headers: { ...svc.authHeaders, accept: "text/event-stream" } })).text());
    expect(viaQuery.map((e) => e.id)).toEqual(rest.map((e) => e.id));

    // Every stream has ended or hung up: none of them left a listener behind.
    const id = created.operation.id as string;
    for (let i = 0; i < 100 && svc.hub.subscriberCount(id) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(svc.hub.subscriberCount(id)).toBe(0);
  });

  it("SSE sends keep-alive comments while nothing happens", async () => {
    const slow = await startTestService({ config: { SIMULATED_STEP_MS: 1_500, SSE_KEEPALIVE_SECONDS: 1 } });
    try {
      await slow.app.listen({ port: 0, host: "127.0.0.1" });
      const port = (slow.app.server.address() as { port: number }).port;
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}/v1/providers`, {
        method: "POST",
        headers: { ...slow.authHeaders, "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify(specNamed("quiet")),
        signal: ac.signal,
      });
      const reader = res.body!.getReader();
      let text = "";
      const deadline = Date.now() + 5_000;
      while (!text.includes(": keep-alive") && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
      ac.abort();
      expect(text).toContain(": keep-alive\n\n");
    } finally {
      await slow.close(100);
    }
  });

  it("an operation that already ended streams its history and closes", async () => {
    const created = (await (
      await fetch(`${base}/v1/providers`, { method: "POST", headers: { ...svc.authHeaders, "content-type": "application/json" }, body: JSON.stringify(specNamed("ended")) })
    ).json()) as Json;
    await waitForStatus(svc, created.operation.id, ["succeeded"]);
    const events = parseSse(await (await fetch(`${base}/v1/operations/${created.operation.id}/events`, { headers: { ...svc.authHeaders, accept: "text/event-stream" } })).text());
    expect(events[0]!.type).toBe("operation.queued");
    expect(events.at(-1)!.type).toBe("operation.succeeded");
  });
});

describe("SSE framing", () => {
  it("any text in an event stays one SSE message", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (message) => {
        const frame = sse({ seq: 1, at: "2026-01-01T00:00:00.000Z", type: "diagnostic", severity: "warning", message });
        expect(frame.endsWith("\n\n")).toBe(true);
        expect(frame.slice(0, -2)).not.toMatch(/\r|\n\n/);
        expect(frame.split("\n").filter((l) => l.startsWith("data:"))).toHaveLength(1);
      }),
      { numRuns: 500 },
    );
  });
});
