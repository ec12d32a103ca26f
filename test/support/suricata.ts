import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The real Suricata 7 parser as a validator of generated rule groups (issue 12): AWS Network Firewall
 * runs Suricata 7.0, and a rules string it refuses fails the deployment. Each run is `suricata -T`
 * (test the configuration and exit) with a minimal configuration written to a temporary directory:
 * the groups' rule variables as address/port groups, one rule file per group, console logging as JSON
 * so levels and messages are read, not guessed.
 */

/** A stateful rule group as the RuleGroup resource receives it: the rules string and its variables. */
export interface RuleGroupUnderTest {
  /** Names the group in findings (e.g. "example acme, active"). */
  readonly label: string;
  readonly rulesString: string;
  /** ruleVariables.ipSets: variable name → CIDRs. */
  readonly ipSets: Readonly<Record<string, readonly string[]>>;
  /** ruleVariables.portSets: variable name → ports. */
  readonly portSets?: Readonly<Record<string, readonly string[]>>;
}

export interface SuricataFinding {
  readonly level: string;
  readonly message: string;
}

export interface SuricataLoad {
  /** Suricata runs used (groups are batched). */
  readonly runs: number;
  readonly filesProcessed: number;
  readonly rulesLoaded: number;
  readonly rulesFailed: number;
  /**
   * Every Error or Warning (or unreadable line) Suricata printed, with the group it names (its rule
   * file), or every group of that run when the message names no file.
   */
  readonly findings: readonly (SuricataFinding & { readonly groups: string })[];
}

export interface LoadOptions {
  /** `--strict-rule-keywords` (all keywords): what is a warning by default becomes an error. */
  readonly strict: boolean;
}

const BINARY = "suricata";

/** The Suricata version line, or undefined when the binary is not on PATH. */
export function suricataVersion(): string | undefined {
  const r = spawnSync(BINARY, ["-V"], { encoding: "utf8", timeout: 30_000 });
  if (r.error || r.status !== 0) return undefined;
  return /version (\S+)/.exec(r.stdout)?.[1];
}

/** The ipSets/portSets and rules string of a RuleGroup resource's `ruleGroup` input. */
export function fromRuleGroupInput(label: string, ruleGroup: unknown): RuleGroupUnderTest {
  const g = ruleGroup as {
    rulesSource?: { rulesString?: unknown };
    ruleVariables?: {
      ipSets?: { key: string; ipSet: { definitions: string[] } }[];
      portSets?: { key: string; portSet: { definitions: string[] } }[];
    };
  };
  const rulesString = g.rulesSource?.rulesString;
  if (typeof rulesString !== "string") throw new Error(`${label}: the rule group has no rulesString`);
  const ipSets = Object.fromEntries((g.ruleVariables?.ipSets ?? []).map((s) => [s.key, s.ipSet.definitions]));
  const portSets = Object.fromEntries((g.ruleVariables?.portSets ?? []).map((s) => [s.key, s.portSet.definitions]));
  return { label, rulesString, ipSets, portSets };
}

const sidsOf = (rules: string): number[] => [...rules.matchAll(/\bsid:\s*(\d+)\s*;/g)].map((m) => Number(m[1]));

/**
 * Packs groups into as few runs as possible: a run cannot hold two groups with a common sid (Suricata
 * refuses duplicate sids, and the active and revoked variants of one provider share theirs).
 */
function batches(groups: readonly RuleGroupUnderTest[]): RuleGroupUnderTest[][] {
  const out: { groups: RuleGroupUnderTest[]; sids: Set<number> }[] = [];
  for (const group of groups) {
    const sids = sidsOf(group.rulesString);
    let batch = out.find((b) => sids.every((s) => !b.sids.has(s)));
    if (!batch) out.push((batch = { groups: [], sids: new Set() }));
    batch.groups.push(group);
    for (const s of sids) batch.sids.add(s);
  }
  return out.map((b) => b.groups);
}

/**
 * Each group's variables get a per-run prefix (`G3_SAAS_SRC`), so groups with different CIDRs load in
 * one run. Only `$NAME` references of the variables the group declares are renamed, as whole tokens;
 * an undeclared or misspelt variable stays as it is and Suricata reports it.
 */
function namespaced(group: RuleGroupUnderTest, prefix: string): string {
  const names = [...Object.keys(group.ipSets), ...Object.keys(group.portSets ?? {})].sort((a, b) => b.length - a.length);
  return names.reduce(
    (rules, name) => rules.replace(new RegExp(`\\$${name}(?![A-Za-z0-9_])`, "g"), `$${prefix}${name}`),
    group.rulesString,
  );
}

const yamlList = (values: readonly string[]): string => JSON.stringify(`[${values.join(",")}]`);

function config(dir: string, batch: readonly RuleGroupUnderTest[]): string {
  const addressGroups: string[] = [];
  const portGroups: string[] = [];
  const ruleFiles: string[] = [];
  batch.forEach((group, i) => {
    const prefix = `G${i}_`;
    for (const [name, cidrs] of Object.entries(group.ipSets)) addressGroups.push(`    ${prefix}${name}: ${yamlList(cidrs)}`);
    for (const [name, ports] of Object.entries(group.portSets ?? {})) portGroups.push(`    ${prefix}${name}: ${yamlList(ports)}`);
    const file = join(dir, `group-${i}.rules`);
    writeFileSync(file, `${namespaced(group, prefix)}\n`);
    ruleFiles.push(`  - ${JSON.stringify(file)}`);
  });
  return [
    "%YAML 1.1",
    "---",
    "vars:",
    addressGroups.length > 0 ? "  address-groups:" : "  address-groups: {}",
    ...addressGroups,
    portGroups.length > 0 ? "  port-groups:" : "  port-groups: {}",
    ...portGroups,
    `default-log-dir: ${JSON.stringify(dir)}`,
    "stats:",
    "  enabled: no",
    "logging:",
    "  default-log-level: info",
    "  outputs:",
    "    - console:",
    "        enabled: yes",
    "        type: json",
    "app-layer:",
    "  protocols:",
    "    tls:",
    "      enabled: yes",
    "    http:",
    "      enabled: yes",
    "rule-files:",
    ...ruleFiles,
    "",
  ].join("\n");
}

/** One finding per Error/Warning line; lines that are neither JSON logs nor `Level: ...` are findings too. */
function readOutput(text: string): { findings: SuricataFinding[]; summary?: { files: number; loaded: number; failed: number } } {
  const findings: SuricataFinding[] = [];
  let summary: { files: number; loaded: number; failed: number } | undefined;
  for (const line of text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0)) {
    let level: string;
    let message: string;
    try {
      const entry = JSON.parse(line) as { log_level?: string; engine?: { message?: string } };
      level = entry.log_level ?? "unknown";
      message = entry.engine?.message ?? line;
    } catch {
      // Before logging is set up Suricata prints `Info: suricata: Setting IPS mode`.
      const m = /^(Error|Warning|Notice|Info|Config|Perf|Debug): (.*)$/.exec(line);
      level = m?.[1] ?? "unreadable";
      message = m?.[2] ?? line;
    }
    const counts = /(\d+) rule files? processed\. (\d+) rules successfully loaded, (\d+) rules failed/.exec(message);
    if (counts) summary = { files: Number(counts[1]), loaded: Number(counts[2]), failed: Number(counts[3]) };
    if (!["Notice", "Info", "Config", "Perf", "Debug"].includes(level)) findings.push({ level, message });
  }
  return summary ? { findings, summary } : { findings };
}

/**
 * Loads every group with `suricata -T` in IPS mode (Network Firewall is inline: pass and drop act).
 * Temporary files live under os.tmpdir() and are removed.
 */
export function loadRuleGroups(groups: readonly RuleGroupUnderTest[], options: LoadOptions): SuricataLoad {
  const dir = mkdtempSync(join(tmpdir(), "saas-bridge-suricata-"));
  const result = { runs: 0, filesProcessed: 0, rulesLoaded: 0, rulesFailed: 0, findings: [] as (SuricataFinding & { groups: string })[] };
  try {
    batches(groups).forEach((batch, n) => {
      const runPath = mkdtempSync(join(dir, `run-${n}-`));
      const configFile = join(runPath, "suricata.yaml");
      writeFileSync(configFile, config(runPath, batch));
      const args = ["-T", "-c", configFile, "-l", runPath, "--simulate-ips", ...(options.strict ? ["--strict-rule-keywords"] : [])];
      const r = spawnSync(BINARY, args, { encoding: "utf8", timeout: 60_000 });
      if (r.error) throw r.error;
      const labels = batch.map((g) => g.label).join("; ");
      const groupOf = (message: string): string => {
        const file = /group-(\d+)\.rules/.exec(message)?.[1];
        return file === undefined ? labels : (batch[Number(file)]?.label ?? labels);
      };
      const { findings, summary } = readOutput(`${r.stdout}\n${r.stderr}`);
      result.runs += 1;
      result.findings.push(...findings.map((f) => ({ ...f, groups: groupOf(f.message) })));
      if (r.status !== 0 && findings.length === 0) {
        result.findings.push({ level: "exit", message: `suricata exited with ${String(r.status ?? r.signal)}`, groups: labels });
      }
      if (summary) {
        result.filesProcessed += summary.files;
        result.rulesLoaded += summary.loaded;
        result.rulesFailed += summary.failed;
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
