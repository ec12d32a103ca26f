import { readdirSync, readFileSync } from "node:fs";

/**
 * The real Pulumi CLI starts every plugin in a process group of its own (seen in issue #11: a plugin's
 * pgid is its pid), so signalling the engine child's group leaves the plugins running, reparented to
 * init — an AWS plugin could then finish a create after the stack was recovered elsewhere. Killing an
 * operation therefore kills its whole process tree: the descendants are collected first (once the CLI
 * is dead its plugins no longer point back to it), then every one of them and the group are signalled.
 */
export interface ProcessEntry {
  readonly ppid: number;
  /** The command name (`/proc/<pid>/stat`'s comm). */
  readonly comm: string;
}

/** Every process's parent and command name (Linux /proc; elsewhere empty, and only groups are signalled). */
export function processTable(): Map<number, ProcessEntry> {
  const table = new Map<number, ProcessEntry>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return table;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ")".
      const close = stat.lastIndexOf(")");
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (Number.isInteger(ppid)) table.set(Number(entry), { ppid, comm: stat.slice(stat.indexOf("(") + 1, close) });
    } catch {
      // It exited between readdir and read.
    }
  }
  return table;
}

/** Every descendant of `root` in a process table, parents before children (at most 10,000). */
export function descendantsIn(root: number, table: ReadonlyMap<number, ProcessEntry>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) {
    const list = children.get(p.ppid);
    if (list) list.push(pid);
    else children.set(p.ppid, [pid]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0 && found.length < 10_000) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

export function descendantsOf(root: number): number[] {
  return descendantsIn(root, processTable());
}

/**
 * Signals every descendant of `leader`, wherever their group is, then the group `leader` leads (last:
 * the caller may be in it, as an orphaned engine child killing its own tree is).
 */
export function killTree(leader: number, signal: NodeJS.Signals): void {
  if (leader <= 0) return; // never started: there is no group (and -(-1) would be every process)
  for (const pid of [...descendantsOf(leader).reverse(), -leader]) {
    try {
      process.kill(pid, signal);
    } catch {
      // ESRCH: gone already.
    }
  }
}
