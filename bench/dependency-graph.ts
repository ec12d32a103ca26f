/**
 * Weighted dependency graphs (pure): the critical path, i.e. the longest chain of weights an engine with
 * unbounded parallelism must still wait for, and the sum of all weights (a fully sequential run).
 */

export interface GraphNode {
  readonly urn: string;
  /** Time this node takes once everything it waits for is done; finite and ≥ 0. */
  readonly weightSeconds: number;
  /** URNs of the nodes that must finish before this one starts; each must be a node of the graph. */
  readonly after: readonly string[];
}

export interface CriticalPath {
  /** Finish time of the last node when every node starts as soon as its predecessors have finished. */
  readonly seconds: number;
  /** The URNs of one longest chain, first to last (empty for an empty graph). */
  readonly path: string[];
}

function validate(nodes: readonly GraphNode[]): Map<string, GraphNode> {
  const byUrn = new Map<string, GraphNode>();
  for (const node of nodes) {
    if (byUrn.has(node.urn)) throw new Error(`dependency graph: duplicate node ${node.urn}`);
    if (!Number.isFinite(node.weightSeconds) || node.weightSeconds < 0) {
      throw new Error(`dependency graph: node ${node.urn} has weight ${node.weightSeconds} (must be finite and ≥ 0)`);
    }
    byUrn.set(node.urn, node);
  }
  for (const node of nodes) {
    for (const before of node.after) {
      if (!byUrn.has(before)) throw new Error(`dependency graph: node ${node.urn} waits for unknown node ${before}`);
    }
  }
  return byUrn;
}

/**
 * The longest weighted path of a DAG (node weights; an edge adds nothing). Ties go to the predecessor and
 * the end node that come first in `nodes`, so the result is deterministic. Throws on a cycle (naming the
 * nodes left on or behind it), a duplicate URN, an unknown predecessor or a negative/non-finite weight.
 */
export function criticalPath(nodes: readonly GraphNode[]): CriticalPath {
  validate(nodes);
  const order = new Map(nodes.map((n, i) => [n.urn, i]));
  // Kahn's algorithm over distinct edges (a node may list a predecessor twice).
  const successors = new Map<string, string[]>(nodes.map((n) => [n.urn, []]));
  const waiting = new Map<string, number>();
  for (const node of nodes) {
    const distinct = new Set(node.after);
    waiting.set(node.urn, distinct.size);
    for (const before of distinct) successors.get(before)!.push(node.urn);
  }
  const ready = nodes.filter((n) => waiting.get(n.urn) === 0).map((n) => n.urn);
  const finish = new Map<string, number>();
  const via = new Map<string, string | undefined>();
  const weight = new Map(nodes.map((n) => [n.urn, n.weightSeconds]));
  const after = new Map(nodes.map((n) => [n.urn, n.after]));
  for (let i = 0; i < ready.length; i++) {
    const urn = ready[i]!;
    let best: string | undefined;
    for (const before of after.get(urn)!) {
      const better =
        best === undefined ||
        finish.get(before)! > finish.get(best)! ||
        (finish.get(before) === finish.get(best) && order.get(before)! < order.get(best)!);
      if (better) best = before;
    }
    via.set(urn, best);
    finish.set(urn, (best === undefined ? 0 : finish.get(best)!) + weight.get(urn)!);
    for (const next of successors.get(urn)!) {
      const left = waiting.get(next)! - 1;
      waiting.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  if (ready.length < nodes.length) {
    const stuck = nodes.filter((n) => !finish.has(n.urn)).map((n) => n.urn);
    throw new Error(`dependency graph: cycle (nodes on or downstream of it: ${stuck.join(", ")})`);
  }

  let end: string | undefined;
  for (const node of nodes) {
    if (end === undefined || finish.get(node.urn)! > finish.get(end)!) end = node.urn;
  }
  const path: string[] = [];
  for (let at = end; at !== undefined; at = via.get(at)) path.push(at);
  path.reverse();
  return { seconds: end === undefined ? 0 : finish.get(end)!, path };
}

/** Every node's weight added up: the duration of a run that creates one resource at a time. */
export function sumOfWeights(nodes: readonly Pick<GraphNode, "weightSeconds">[]): number {
  return nodes.reduce((total, n) => total + n.weightSeconds, 0);
}
