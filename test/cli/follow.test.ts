import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { loadCliConfig } from "../../src/cli/config.js";
import { CliError, EXIT, exitForStatus } from "../../src/cli/exit-codes.js";
import { followOperation } from "../../src/cli/follow.js";

/**
 * The CLI's follow loop in-process against a scripted loopback server: a dropped connection resumes after
 * the last seq seen (nothing lost, nothing twice), retries are bounded, a refusal is not retried.
 */
let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const event = (seq: number, type = "diagnostic") =>
  `${JSON.stringify(type === "diagnostic" ? { seq, at: "2026-01-01T00:00:00Z", type, severity: "info", message: `m${seq}` } : { seq, at: "2026-01-01T00:00:00Z", type, summary: {}, durationMs: 1 })}\n`;

async function collect(options: Parameters<typeof followOperation>[0]): Promise<number[]> {
  const seqs: number[] = [];
  for await (const e of followOperation(options)) seqs.push(e.seq);
  return seqs;
}

describe("followOperation", () => {
  it("resumes after the last seq it saw when the connection drops, and stops at the terminal event", async () => {
    const asked: string[] = [];
    const base = await serve((req, res) => {
      const after = new URL(req.url ?? "/", "http://x").searchParams.get("after") ?? "";
      asked.push(after);
      expect(req.headers.authorization).toBe("Bearer t0ken");
      expect(req.headers.accept).toBe("application/x-ndjson");
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      if (after === "0") {
        // Three whole events and half of a fourth, then the connection is cut.
        res.write(event(1) + event(2) + event(3) + event(4).slice(0, 10));
        setTimeout(() => res.socket?.destroy(), 20);
      } else {
        res.end(event(3) + event(4) + event(5, "operation.succeeded"));
      }
    });
    const retries: number[] = [];
    const seqs = await collect({ baseUrl: base, token: "t0ken", operationId: "op-1", backoffMs: 1, onRetry: (r) => retries.push(r.attempt) });
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect(asked).toEqual(["0", "3"]);
    expect(retries).toEqual([1]);
  });

  it("gives up after a bounded number of reconnects without progress (exit 6)", async () => {
    let calls = 0;
    const base = await serve((_req, res) => {
      calls += 1;
      res.writeHead(503, { "content-type": "application/problem+json" }).end(JSON.stringify({ status: 503, code: "UNAVAILABLE", detail: "draining" }));
    });
    const err = await collect({ baseUrl: base, token: "t", operationId: "op", backoffMs: 1, maxRetries: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.unavailable);
    expect((err as CliError).message).toMatch(/draining.*gave up after 3 reconnects/);
    expect(calls).toBe(4);
  });

  it("does not retry a refusal, and a 204 (already ended) ends quietly", async () => {
    const base = await serve((req, res) => {
      if (req.url?.includes("ended")) res.writeHead(204).end();
      else res.writeHead(401, { "content-type": "application/problem+json" }).end(JSON.stringify({ code: "UNAUTHENTICATED", detail: "no key" }));
    });
    const err = await collect({ baseUrl: base, token: "t", operationId: "op", backoffMs: 1 }).catch((e: unknown) => e);
    expect((err as CliError).exitCode).toBe(EXIT.auth);
    expect(await collect({ baseUrl: base, token: "t", operationId: "ended", backoffMs: 1 })).toEqual([]);
  });
});

describe("exit codes and configuration", () => {
  it("maps statuses to the documented codes", () => {
    expect([401, 403, 404, 409, 422, 400, 429, 500, 503].map((s) => exitForStatus(s))).toEqual([3, 3, 4, 5, 5, 2, 6, 6, 6]);
    // A self-approval is a 403 whose key works: by its problem code a conflict (5), not an auth failure (3).
    expect([exitForStatus(403, "SELF_APPROVAL"), exitForStatus(403, "FORBIDDEN")]).toEqual([5, 3]);
  });

  it("reads the URL and one credential from the environment, never both", () => {
    expect(loadCliConfig({ SAAS_BRIDGE_TOKEN: "k" })).toEqual({ baseUrl: "http://127.0.0.1:8080", token: "k" });
    expect(loadCliConfig({ SAAS_BRIDGE_TOKEN: "k", SAAS_BRIDGE_URL: "https://bridge.internal/" }).baseUrl).toBe("https://bridge.internal");
    expect(() => loadCliConfig({})).toThrow(/no credentials/);
    expect(() => loadCliConfig({ SAAS_BRIDGE_TOKEN: "k", SAAS_BRIDGE_TOKEN_FILE: "/x" })).toThrow(/set one/);
    expect(() => loadCliConfig({ SAAS_BRIDGE_TOKEN: "k", SAAS_BRIDGE_URL: "ftp://x" })).toThrow(/http\(s\)/);
  });
});
