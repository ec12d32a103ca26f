import { readdirSync, readFileSync } from "node:fs";

/**
 * The real Pulumi CLI starts every plugin in a process group of its own (seen in issue #11: a plugin's
 * pgid is its pid), so signalling the engine child's group leaves the plugins running, reparented to
 * init — an AWS plugin could then finish a create after the stack was recovered elsewhere. Killing an
 * operation therefore kills its whole process tree: the descendants are collected first (once the CLI
 * is dead its plugins no longer point back to it), then every one of them and the group are signalled.
 */

/** Every descendant of `root` (Linux /proc; elsewhere none are found and only the group is signalled). */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (!Number.isInteger(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
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
