import { readdirSync, readFileSync } from "node:fs";
import { descendantsIn, processTable, type ProcessEntry } from "../src/engine/process/process-tree.js";

/**
 * The memory of an operation's whole process tree (figure `engine-rss`): the engine child, the Pulumi CLI
 * it starts, and the plugins the CLI starts (the stand-in `aws` plugin runs under node, tsx starts an
 * `esbuild` helper). Linux only: everything comes from /proc.
 */
/** The operation's tree: the root and its descendants (the service's own /proc walk, process-tree.ts). */
function treeOf(root: number, procs: ReadonlyMap<number, ProcessEntry>): number[] {
  return [root, ...descendantsIn(root, procs)];
}

function vmRssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0; // exited
  }
}

/** One operation's tree at the sample where its summed VmRSS was highest. */
export interface TreePeak {
  readonly peakBytes: number;
  /** The engine child alone: its highest VmRSS over the same samples (not necessarily at the tree's peak). */
  readonly ownPeakBytes: number;
  readonly maxProcesses: number;
  /** The tree's peak sample split by kind: engine child, `pulumi` CLI, plugins (node), other (esbuild, sh). */
  readonly atPeak: { readonly child: number; readonly cli: number; readonly plugins: number; readonly other: number; readonly processes: number };
  readonly samples: number;
}

export interface TreeSampler {
  /** Stops sampling; the peaks by operation id. */
  stop(): { readonly trees: ReadonlyMap<string, TreePeak>; readonly peakTotalBytes: number; readonly ticks: number; readonly sampleMsMedian: number };
}

/**
 * Every `intervalMs`, for each running operation (`roots()`: operation id → engine child pid), the sum of
 * VmRSS over the child and all its descendants. A sum of VmRSS counts shared pages (the node binary, the
 * CLI's text) once per process, so it is an upper bound of the memory the tree adds; see README §10.
 */
export function sampleTrees(roots: () => ReadonlyMap<string, number>, intervalMs: number): TreeSampler {
  const trees = new Map<string, TreePeak>();
  let peakTotalBytes = 0;
  let ticks = 0;
  const costs: number[] = [];
  const tick = () => {
    const running = roots();
    if (running.size === 0) return;
    const started = performance.now();
    const procs = processTable();
    let total = 0;
    for (const [operationId, root] of running) {
      const members = treeOf(root, procs);
      const split = { child: 0, cli: 0, plugins: 0, other: 0, processes: members.length };
      for (const pid of members) {
        const bytes = vmRssBytes(pid);
        const comm = procs.get(pid)?.comm ?? "";
        if (pid === root) split.child += bytes;
        else if (comm === "pulumi") split.cli += bytes;
        else if (comm === "node" || comm.startsWith("pulumi-resource")) split.plugins += bytes;
        else split.other += bytes;
      }
      const sum = split.child + split.cli + split.plugins + split.other;
      total += sum;
      const before = trees.get(operationId);
      const samples = (before?.samples ?? 0) + 1;
      const ownPeakBytes = Math.max(before?.ownPeakBytes ?? 0, split.child);
      const maxProcesses = Math.max(before?.maxProcesses ?? 0, members.length);
      trees.set(
        operationId,
        before && before.peakBytes >= sum
          ? { ...before, ownPeakBytes, maxProcesses, samples }
          : { peakBytes: sum, ownPeakBytes, maxProcesses, atPeak: split, samples },
      );
    }
    peakTotalBytes = Math.max(peakTotalBytes, total);
    ticks += 1;
    costs.push(performance.now() - started);
  };
  const timer = setInterval(tick, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const sorted = [...costs].sort((a, b) => a - b);
      return { trees, peakTotalBytes, ticks, sampleMsMedian: Math.round((sorted[Math.floor(sorted.length / 2)] ?? 0) * 100) / 100 };
    },
  };
}

/**
 * Kills (SIGKILL, by pid) every process whose environment has `marker` (`NAME=value`, e.g. the fake cloud's
 * folder of this run, which no other run shares) and returns how many there were. The CLI starts each plugin
 * in a process group of its own; the service kills an engine child's whole tree, and this is the guard that
 * counts (and ends) anything that escaped it: a figure calls it after closing its services.
 */
export function reapStrays(marker: string): number {
  let killed = 0;
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(marker)) continue;
      process.kill(pid, "SIGKILL");
      killed += 1;
    } catch {
      // Exited, or not ours to read.
    }
  }
  return killed;
}
