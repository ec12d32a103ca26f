/**
 * Program versions are `<program>@<n>` (programs/version.ts; bumped whenever the resource graph changes for
 * the same args). A stack is *behind* when it last ran an older version of the same program than this
 * service runs, *ahead* when a newer one (a replica of a newer release ran it; never rolled back from here).
 */
export type VersionStanding = "current" | "behind" | "ahead";

const VERSION = /^(.+)@(\d{1,9})$/;

export function standingOf(lastRun: string | null, current: string): VersionStanding {
  if (lastRun === current) return "current";
  const last = lastRun === null ? undefined : VERSION.exec(lastRun);
  const now = VERSION.exec(current);
  // Unknown or unparseable history, or another program's name: running this version is what brings it current.
  if (last === undefined || last === null || now === null || last[1] !== now[1]) return "behind";
  return Number(last[2]) < Number(now[2]) ? "behind" : "ahead";
}

/** Lifecycles whose stacks a rollout brings to the new version: revoked ones are run in their revoked state. */
export const ROLLABLE_LIFECYCLES: ReadonlySet<string> = new Set(["active", "revoked"]);
