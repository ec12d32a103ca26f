import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";

/** One benchmark figure: a ratio against a baseline measured in the same run, and the numbers behind it. */
export interface Figure {
  readonly id:
    | "accept"
    | "accept-postgres"
    | "accept-security"
    | "stream"
    | "program"
    | "rss"
    | "critical-path"
    | "child-overhead"
    | "child-rss"
    | "audit-verify"
    | "engine-overhead"
    | "engine-rss"
    | "engine-vs-simulated"
    | "route-fuzz"
    | "openapi"
    | "db-outage"
    | "resume-after-kill"
    | "evaluation-pool"
    | "event-loop-delay"
    | "stream-under-load"
    | "rollout"
    | "webhook-delivery"
    | "drift-sweep"
    | "verification"
    | "metrics-scrape"
    | "console-load";
  readonly title: string;
  readonly ratio: number;
  readonly ratioMeaning: string;
  /** Human-readable target; undefined when the figure has none (it is reported, not judged). */
  readonly target?: string;
  readonly pass?: boolean;
  readonly subject: Readonly<Record<string, number>>;
  readonly baseline: Readonly<Record<string, number>>;
  /** Further measurements of the same run that explain the ratio (not part of it). */
  readonly diagnostics?: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly notes: readonly string[];
}

/** A figure whose run failed part-way: a MISS with the reason, not a crash of the whole bench. */
export function notMeasured(figure: Pick<Figure, "id" | "title" | "ratioMeaning" | "target">, reason: unknown): Figure {
  const why = reason instanceof Error ? reason.message : String(reason);
  return { ...figure, ratio: Number.NaN, pass: false, subject: {}, baseline: {}, notes: [`MISS: not measured: ${why}`] };
}

/** A figure that could not be measured on this machine (e.g. no PostgreSQL), and why. */
export interface Skipped {
  readonly id: Figure["id"];
  readonly skipped: string;
}

export interface Report {
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: { readonly node: string; readonly cpus: number; readonly cpuModel: string; readonly loadAverage1mAtEnd: number };
  readonly figures: readonly Figure[];
  readonly skipped: readonly Skipped[];
}

export function machine(): Report["machine"] {
  return {
    node: process.version,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    loadAverage1mAtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

const verdict = (f: Figure): string => (f.pass === undefined ? "—" : f.pass ? "PASS" : "MISS");

function pad(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
}

function describe(values: Readonly<Record<string, number>>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
}

/** The summary table, then each figure's numbers and notes. */
export function formatReport(report: Report): string {
  const header = ["figure", "ratio", "target", "verdict"];
  const rows = report.figures.map((f) => [f.title, f.ratio.toFixed(3), f.target ?? "(none: reported only)", verdict(f)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const lines = [
    "",
    `saas-bridge benchmarks — ${report.startedAt}, ${report.durationSeconds} s, node ${report.machine.node}, ` +
      `${report.machine.cpus} × ${report.machine.cpuModel}, load average (1 min) at end ${report.machine.loadAverage1mAtEnd}`,
    "",
    pad(header, widths),
    pad(header.map((_, i) => "-".repeat(widths[i] ?? 0)), widths),
    ...rows.map((r) => pad(r, widths)),
    ...report.skipped.map((s) => `${s.id}: SKIPPED — ${s.skipped}`),
    "",
  ];
  for (const f of report.figures) {
    lines.push(`${f.title} — ratio ${f.ratio.toFixed(3)} = ${f.ratioMeaning}`);
    lines.push(`  subject:  ${describe(f.subject)}`);
    lines.push(`  baseline: ${describe(f.baseline)}`);
    for (const [name, values] of Object.entries(f.diagnostics ?? {})) lines.push(`  ${name}: ${describe(values)}`);
    for (const note of f.notes) lines.push(`  note: ${note}`);
    lines.push("");
  }
  return lines.join("\n");
}

/** Writes bench/results/latest.json (gitignored) and returns its path. */
export async function writeReport(report: Report): Promise<string> {
  const dir = new URL("./results/", import.meta.url);
  await mkdir(dir, { recursive: true });
  const file = new URL("latest.json", dir);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return fileURLToPath(file);
}
