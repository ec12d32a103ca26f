import { randomUUID } from "node:crypto";
import { PROGRAM_VERSION } from "../programs/version.js";
import { createAuditWriter } from "../src/audit/append.js";
import { createAuthenticator } from "../src/auth/authenticator.js";
import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { openDb } from "../src/store/open.js";
import { clean, CONNECTIONS, loadNotes, measure, numbers, PGLITE, type Load } from "./accept.js";
import type { AcceptServerMode, AcceptServerVariant } from "./accept-server.js";
import type { Figure } from "./report.js";
import { benchAuthorization, median, now, tempDir } from "./support.js";

/**
 * Figure 8 (issue #5): accept-path throughput of the real service with authentication + audit ÷ the same
 * service composed without them (`securityOverride`: a fixed admin principal, an audit writer that writes
 * nothing), same load as figure 1, rounds alternating which goes first (see README §8). A micro diagnostic
 * times the security work alone, since the guardrail gate dominates a create.
 */
const TARGET_RATIO = 0.85;
const ROUNDS = 3;
/** Rounds of the diagnostic pair whose guardrail gate evaluates an empty program. */
const TRIVIAL_ROUNDS = 2;
const SUBJECT: AcceptServerMode = "service";
const BASELINE: AcceptServerMode = "service-unaudited";
const CALLS = 2_000;
const WARMUP_CALLS = 100;
const ALTERNATE_EVERY = 10;

interface Round {
  readonly subject: Load;
  readonly baseline: Load;
}

/** Medians of the rounds' rates and percentiles; totals of their counts; the worst max. */
function combined(loads: readonly Load[]): Load {
  const sum = (pick: (l: Load) => number) => loads.reduce((total, l) => total + pick(l), 0);
  const codes: Record<string, number> = {};
  for (const l of loads) for (const [code, count] of Object.entries(l.statusCodes)) codes[code] = (codes[code] ?? 0) + count;
  return {
    requestsPerSecond: median(loads.map((l) => l.requestsPerSecond)),
    p50Ms: median(loads.map((l) => l.p50Ms)),
    p99Ms: median(loads.map((l) => l.p99Ms)),
    maxMs: Math.max(...loads.map((l) => l.maxMs)),
    requests: sum((l) => l.requests),
    non2xx: sum((l) => l.non2xx),
    errors: sum((l) => l.errors),
    statusCodes: codes,
    database: loads[0]?.database ?? "?",
  };
}

async function rounds(count: number, variant?: AcceptServerVariant): Promise<Round[]> {
  const out: Round[] = [];
  for (let round = 0; round < count; round++) {
    // Baseline first in even rounds, subject first in odd ones: a drift in either direction hits both.
    if (round % 2 === 0) {
      const baseline = await measure(BASELINE, PGLITE, variant);
      out.push({ baseline, subject: await measure(SUBJECT, PGLITE, variant) });
    } else {
      const subject = await measure(SUBJECT, PGLITE, variant);
      out.push({ subject, baseline: await measure(BASELINE, PGLITE, variant) });
    }
  }
  return out;
}

const rps = (n: number): number => Math.round(n * 10) / 10;
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

function roundDiagnostics(label: string, measured: readonly Round[]): Record<string, Record<string, number>> {
  return Object.fromEntries(
    measured.map((r, i) => [
      `${label}round ${i + 1} (${i % 2 === 0 ? "baseline first" : "subject first"})`,
      {
        ratio: round3(r.subject.requestsPerSecond / r.baseline.requestsPerSecond),
        subjectRps: rps(r.subject.requestsPerSecond),
        baselineRps: rps(r.baseline.requestsPerSecond),
        subjectP99Ms: r.subject.p99Ms,
        baselineP99Ms: r.baseline.p99Ms,
      },
    ]),
  );
}

interface SecurityCost {
  /** Per call, mean: authenticator.fromHeader of a real key. */
  readonly authMs: number;
  /** Per call, mean: one transaction holding one appendAudit of a provider.create record. */
  readonly auditTxMs: number;
  /** Per call, mean: one empty transaction. */
  readonly emptyTxMs: number;
}

/**
 * The security work of one accepted create, alone and in sequence: the API-key lookup, then a transaction
 * with the audit append the use case writes; against an empty transaction. Alternating in tens.
 */
async function securityCost(): Promise<SecurityCost> {
  const dir = await tempDir();
  const db = await openDb({ dataDir: dir.path });
  try {
    const keys = generateSecurityKeys();
    const authenticator = createAuthenticator({ db, oidc: undefined, ticketKey: keys.ticketKey });
    const audit = createAuditWriter({ hmacKey: keys.auditHmac });
    const header = await benchAuthorization(db);
    let authMs = 0;
    let auditTxMs = 0;
    let emptyTxMs = 0;
    const secured = async (i: number) => {
      const started = now();
      const check = await authenticator.fromHeader(header);
      if (!check.ok) throw new Error(`accept-security: the bench key did not authenticate (${check.reason})`);
      const authenticated = now();
      const { kind, id, name } = check.principal;
      // As accept.ts writes it for a create: the caller, the request, the operation it queued.
      await db.transaction((tx) =>
        audit.append(tx, {
          action: "provider.create",
          outcome: "allowed",
          principal: { kind, id, name },
          resource: { kind: "provider", id: `bench-${i.toString(36)}` },
          requestId: `req-${i}`,
          sourceIp: "127.0.0.1",
          details: { operationId: randomUUID(), intent: "create", kind: "up", specHash: "0".repeat(64), programVersion: PROGRAM_VERSION, status: "queued" },
        }),
      );
      return { auth: authenticated - started, tx: now() - authenticated };
    };
    const empty = async () => {
      const started = now();
      await db.transaction(async () => undefined);
      return now() - started;
    };
    for (let i = 0; i < WARMUP_CALLS; i++) {
      await secured(-1 - i);
      await empty();
    }
    for (let done = 0; done < CALLS; done += ALTERNATE_EVERY) {
      for (let i = done; i < done + ALTERNATE_EVERY; i++) {
        const t = await secured(i);
        authMs += t.auth;
        auditTxMs += t.tx;
      }
      for (let i = 0; i < ALTERNATE_EVERY; i++) emptyTxMs += await empty();
    }
    return { authMs: authMs / CALLS, auditTxMs: auditTxMs / CALLS, emptyTxMs: emptyTxMs / CALLS };
  } finally {
    await db.close();
    await dir.remove();
  }
}

export async function measureAcceptSecurity(): Promise<Figure> {
  const measured = await rounds(ROUNDS);
  const trivial = await rounds(TRIVIAL_ROUNDS, "trivial-program");
  const cost = await securityCost();
  const subject = combined(measured.map((r) => r.subject));
  const baseline = combined(measured.map((r) => r.baseline));
  const ratio = subject.requestsPerSecond / baseline.requestsPerSecond;
  const valid = clean(subject, baseline);
  const trivialSubject = combined(trivial.map((r) => r.subject));
  const trivialBaseline = combined(trivial.map((r) => r.baseline));
  const trivialValid = clean(trivialSubject, trivialBaseline);
  const addedMs = cost.authMs + cost.auditTxMs - cost.emptyTxMs;
  // The service is one thread (PGlite in-process): each request holds it for ~1000/rps ms, the security work adds to that.
  const serviceMsPerRequest = 1000 / baseline.requestsPerSecond;
  const perRound = measured.map((r) => (r.subject.requestsPerSecond / r.baseline.requestsPerSecond).toFixed(3)).join(", ");
  const codes = (l: Load) => Object.entries(l.statusCodes).map(([code, count]) => `${code}×${count}`).join(" ") || "none";
  return {
    id: "accept-security",
    title: "Accept path with authentication + audit vs without",
    ratio,
    ratioMeaning: "service req/s ÷ the same service without authentication lookup and audit writes (higher is better)",
    target: `ratio ≥ ${TARGET_RATIO}, 0 non-2xx`,
    pass: ratio >= TARGET_RATIO && valid,
    subject: numbers(subject),
    baseline: numbers(baseline),
    diagnostics: {
      [`guardrail gate on an empty program (trivial-program), nearest-rank median (the lower) of ${TRIVIAL_ROUNDS} rounds`]: {
        ratio: round3(trivialSubject.requestsPerSecond / trivialBaseline.requestsPerSecond),
        subjectRps: rps(trivialSubject.requestsPerSecond),
        subjectP50Ms: trivialSubject.p50Ms,
        subjectP99Ms: trivialSubject.p99Ms,
        baselineRps: rps(trivialBaseline.requestsPerSecond),
        baselineP50Ms: trivialBaseline.p50Ms,
        baselineP99Ms: trivialBaseline.p99Ms,
        non2xx: trivialSubject.non2xx + trivialBaseline.non2xx,
        errors: trivialSubject.errors + trivialBaseline.errors,
      },
      [`security work alone, ${CALLS} sequential calls (ms per request)`]: {
        authMs: round3(cost.authMs),
        auditTxMs: round3(cost.auditTxMs),
        emptyTxMs: round3(cost.emptyTxMs),
        addedMs: round3(addedMs),
        baselineMsPerRequest: round3(serviceMsPerRequest),
        modelledRatio: round3(serviceMsPerRequest / (serviceMsPerRequest + addedMs)),
      },
      ...roundDiagnostics("", measured),
      ...roundDiagnostics("trivial-program ", trivial),
    },
    notes: [
      ...(valid
        ? []
        : [`INVALID RUN: non-2xx or errors (subject statuses ${codes(subject)}, errors ${subject.errors}; baseline statuses ${codes(baseline)}, errors ${baseline.errors}): the ratio measures refusals, not the accept path`]),
      `subject: accept-server.ts ${SUBJECT} (real API-key lookup per request, real audit record in the accept transaction); ` +
        `baseline: ${BASELINE} (composeService's securityOverride: a fixed admin principal, no lookup; an audit writer that writes nothing)`,
      `both: PGlite in a fresh temporary data directory per run, the same admin key in the authorization header, ` +
        "rate limits at 1,000,000 a minute, APPROVAL_RULES=none",
      `${ROUNDS} rounds alternating which runs first (baseline first in rounds 1 and 3); req/s, p50 and p99 are medians over the rounds, ` +
        `counts are totals, max the worst; ratios per round: ${perRound}`,
      ...loadNotes().filter((n) => !n.startsWith("baseline:")),
      "the guardrail gate (one provider-program evaluation per create) dominates both, so the ratio hides most of the security cost; " +
        `two diagnostics show it: the same pair with composeService's (tests-only) program option set to a program that registers nothing ` +
        `(${TRIVIAL_ROUNDS} rounds, alternating; not a production configuration), and the micro diagnostic below`,
      ...(trivialValid
        ? []
        : [`INVALID trivial-program diagnostic: non-2xx or errors (subject statuses ${codes(trivialSubject)}; baseline statuses ${codes(trivialBaseline)})`]),
      `micro diagnostic: ${CALLS} × (authenticator.fromHeader of a real key, then one transaction with one appendAudit) vs ${CALLS} empty ` +
        `transactions, alternating in tens after ${WARMUP_CALLS} warm-ups, sequential, on a fresh PGlite in this process; ` +
        "addedMs = auth + audited tx − empty tx; modelledRatio = baseline ms per request ÷ (that + addedMs), with " +
        `baseline ms per request = 1000 ÷ baseline req/s (the server is one thread; ${CONNECTIONS} connections only queue)`,
      "latency resolution: 1 ms (autocannon)",
    ],
  };
}
