import type { LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { checkAddresses, createAddressCheck, hostOf, systemResolve, urlProblem, type DestinationPolicy } from "./destination.js";

/**
 * The transport of webhook deliveries: one POST, nothing followed, nothing kept beyond a short excerpt.
 * The delivery worker only sees `Send`; this module is the only one that speaks HTTP to receivers.
 */
export interface SendRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface SendOutcome {
  /** A 2xx answer: delivered. Anything else (3xx included) is a failed attempt. */
  readonly ok: boolean;
  readonly statusCode?: number;
  /** Why the attempt failed, for the attempt's record (never a header or a secret). */
  readonly error?: string;
  readonly durationMs: number;
  /** At most EXCERPT_CHARS characters of the response body. */
  readonly excerpt?: string;
}

export type Send = (request: SendRequest, signal: AbortSignal) => Promise<SendOutcome>;

export interface HttpSenderOptions {
  readonly policy: DestinationPolicy;
  /** The whole attempt: connecting, sending, and reading the answer (WEBHOOK_TIMEOUT_SECONDS). */
  readonly timeoutMs: number;
}

export interface HttpSender {
  readonly send: Send;
  close(): void;
}

export const EXCERPT_CHARS = 256;
/** Read no more of a response than this: a receiver cannot make the service buffer its body. */
const READ_LIMIT_BYTES = 4_096;

export class DestinationRefusedError extends Error {
  readonly code = "EDESTINATIONREFUSED";
}

/** A `lookup` for node:http/https that answers only with addresses the policy allows, at connect time. */
export function guardedLookup(policy: DestinationPolicy, protocol: string): LookupFunction {
  const check = createAddressCheck(policy.allowedCidrs);
  const resolve = policy.resolve ?? systemResolve;
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (all) => {
        const family = options.family === 4 || options.family === 6 ? options.family : undefined;
        const addresses: LookupAddress[] = all.filter((a) => family === undefined || a.family === family);
        const verdict = checkAddresses(check, policy, protocol, addresses);
        if (!verdict.ok) return callback(new DestinationRefusedError(`destination refused: ${hostname} ${verdict.reason}`), "", 4);
        if (options.all) return (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, addresses);
        return callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, "", 4),
    );
  };
}

const printable = (text: string) => text.replace(/[\p{Cc}\p{Cf}]/gu, " ").slice(0, EXCERPT_CHARS);

export function createHttpSender(options: HttpSenderOptions): HttpSender {
  const { policy, timeoutMs } = options;
  const check = createAddressCheck(policy.allowedCidrs);
  const agents = { "http:": new http.Agent({ keepAlive: true }), "https:": new https.Agent({ keepAlive: true }) };
  const lookups = { "http:": guardedLookup(policy, "http:"), "https:": guardedLookup(policy, "https:") };

  const send: Send = (request, signal) => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const failed = (error: string, statusCode?: number, excerpt?: string): SendOutcome => ({
      ok: false,
      error,
      durationMs: elapsed(),
      ...(statusCode === undefined ? {} : { statusCode }),
      ...(excerpt ? { excerpt } : {}),
    });
    const { url, problem } = urlProblem(request.url);
    if (url === undefined) return Promise.resolve(failed(`destination refused: the URL ${problem ?? "is not valid"}`));
    const protocol = url.protocol as "http:" | "https:";
    const host = hostOf(url);
    // An address in the URL is never looked up: it is checked here instead.
    if (isIP(host) !== 0) {
      const verdict = checkAddresses(check, policy, protocol, [{ address: host, family: isIP(host) }]);
      if (!verdict.ok) return Promise.resolve(failed(`destination refused: ${verdict.reason}`));
    }
    return new Promise<SendOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: SendOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve(outcome);
      };
      const req = (protocol === "https:" ? https : http).request(url, {
        method: "POST",
        agent: agents[protocol],
        lookup: lookups[protocol],
        headers: {
          ...request.headers,
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(request.body)),
          "user-agent": "saas-bridge-webhooks/1",
        },
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => req.destroy(new Error("the service stopped during the attempt"));
      signal.addEventListener("abort", onAbort, { once: true });
      req.on("error", (err: NodeJS.ErrnoException) => settle(failed(err.message)));
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          const excerpt = printable(Buffer.concat(chunks).subarray(0, READ_LIMIT_BYTES).toString("utf8"));
          if (status >= 200 && status < 300) settle({ ok: true, statusCode: status, durationMs: elapsed(), ...(excerpt ? { excerpt } : {}) });
          else if (status >= 300 && status < 400) settle(failed(`HTTP ${status}: redirects are not followed`, status, excerpt));
          else settle(failed(`HTTP ${status}`, status, excerpt));
        };
        res.on("data", (chunk: Buffer) => {
          if (size >= READ_LIMIT_BYTES) return;
          chunks.push(chunk);
          size += chunk.length;
          // Enough to judge: the rest is not read (the connection is dropped rather than drained).
          if (size >= READ_LIMIT_BYTES) {
            done();
            res.destroy();
          }
        });
        res.on("end", done);
        res.on("error", () => done());
        res.on("close", done);
      });
      req.end(request.body);
    });
  };

  return {
    send,
    close() {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}
