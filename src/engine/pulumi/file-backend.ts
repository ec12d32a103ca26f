import { readdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";

/**
 * The file (DIY) backend keeps each checkpoint with a metadata sidecar, `<stack>.json.attrs` (gocloud.dev
 * fileblob). The checkpoint itself is written to a temporary file and renamed, but the sidecar is written in
 * place (create, then encode): a SIGKILL between the two leaves it empty, and every later `pulumi stack
 * select` fails with `failed to load checkpoint: EOF` — the stack is bricked by a crash. The sidecar only
 * holds a content type and an MD5; the backend treats a missing one as the default. So recovery removes a
 * sidecar that is empty or not JSON, and says so.
 */

/** The directory of a `file://` backend URL, or undefined for any other backend (nothing to repair there). */
export function fileBackendDir(backendUrl: string | undefined): string | undefined {
  if (backendUrl === undefined || !backendUrl.startsWith("file://")) return undefined;
  const dir = backendUrl.slice("file://".length);
  return dir.startsWith("/") ? dir : undefined;
}

/** Removes the stack's unreadable checkpoint sidecars; returns the files removed. */
export async function repairCheckpointSidecars(stateDir: string, project: string, stack: string): Promise<string[]> {
  const dir = join(stateDir, ".pulumi", "stacks", project);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names.filter((n) => n.startsWith(`${stack}.json`) && n.endsWith(".attrs"))) {
    const path = join(dir, name);
    if ((await stat(path)).size > 0) {
      try {
        JSON.parse(await readFile(path, "utf8"));
        continue;
      } catch {
        // Not JSON: as unreadable as an empty one.
      }
    }
    await unlink(path);
    removed.push(path);
  }
  return removed;
}
