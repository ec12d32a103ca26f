// A readable spec diff for reviewers: one line per changed leaf, addressed by JSON Pointer
// (RFC 6901, as the API's validation errors are), so "/outbound/allowedSourceCidrs/1" means the same
// here as in a 400 answer.

export type SpecChange =
  | { kind: "changed"; path: string; before: unknown; after: unknown }
  | { kind: "added"; path: string; after: unknown }
  | { kind: "removed"; path: string; before: unknown };

export function diffSpecs(before: unknown, after: unknown): SpecChange[] {
  const changes: SpecChange[] = [];
  walk(before, after, "", changes);
  return changes;
}

function walk(before: unknown, after: unknown, path: string, out: SpecChange[]): void {
  if (isContainer(before) && isContainer(after) && Array.isArray(before) === Array.isArray(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    const ordered = Array.isArray(before) ? [...keys].sort((a, b) => Number(a) - Number(b)) : [...keys].sort();
    for (const key of ordered) {
      const child = `${path}/${escapePointer(key)}`;
      const has = (o: object) => Object.prototype.hasOwnProperty.call(o, key);
      if (!has(before)) leaves(after[key as keyof typeof after], child, (p, v) => out.push({ kind: "added", path: p, after: v }));
      else if (!has(after)) leaves(before[key as keyof typeof before], child, (p, v) => out.push({ kind: "removed", path: p, before: v }));
      else walk(before[key as keyof typeof before], after[key as keyof typeof after], child, out);
    }
    return;
  }
  if (!sameValue(before, after)) out.push({ kind: "changed", path: path || "/", before, after });
}

/** Every leaf under a value that is wholly added or removed; an empty object or array is a leaf. */
function leaves(value: unknown, path: string, emit: (path: string, value: unknown) => void): void {
  if (isContainer(value) && Object.keys(value).length > 0) {
    for (const [key, child] of Object.entries(value)) leaves(child, `${path}/${escapePointer(key)}`, emit);
  } else {
    emit(path, value);
  }
}

function isContainer(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** A value as it appears in a diff line: JSON, so strings keep their quotes. */
export function show(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}

/** `/path: "old" → "new"`, `/path: added "new"`, `/path: removed "old"`: words, not colour alone. */
export function changeLine(change: SpecChange): string {
  switch (change.kind) {
    case "changed": return `${change.path}: ${show(change.before)} → ${show(change.after)}`;
    case "added": return `${change.path}: added ${show(change.after)}`;
    case "removed": return `${change.path}: removed ${show(change.before)}`;
  }
}
