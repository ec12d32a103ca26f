import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { criticalPath, sumOfWeights, type GraphNode } from "../../bench/dependency-graph.js";

const node = (urn: string, weightSeconds: number, after: string[] = []): GraphNode => ({ urn, weightSeconds, after });

describe("criticalPath", () => {
  test("an empty graph takes no time", () => {
    expect(criticalPath([])).toEqual({ seconds: 0, path: [] });
    expect(sumOfWeights([])).toBe(0);
  });

  test("a single node", () => {
    expect(criticalPath([node("a", 7)])).toEqual({ seconds: 7, path: ["a"] });
  });

  test("a chain adds up, whatever order the nodes are listed in", () => {
    const nodes = [node("c", 3, ["b"]), node("a", 1), node("b", 2, ["a"])];
    expect(criticalPath(nodes)).toEqual({ seconds: 6, path: ["a", "b", "c"] });
    expect(sumOfWeights(nodes)).toBe(6);
  });

  test("a diamond takes the heavier branch once", () => {
    //   a(1) → b(10) → d(2)
    //   a(1) → c(4)  → d(2)
    const nodes = [node("a", 1), node("b", 10, ["a"]), node("c", 4, ["a"]), node("d", 2, ["b", "c"])];
    expect(criticalPath(nodes)).toEqual({ seconds: 13, path: ["a", "b", "d"] });
    expect(sumOfWeights(nodes)).toBe(17);
  });

  test("a diamond tie goes to the predecessor listed first", () => {
    const nodes = [node("a", 1), node("c", 5, ["a"]), node("b", 5, ["a"]), node("d", 1, ["b", "c"])];
    expect(criticalPath(nodes)).toEqual({ seconds: 7, path: ["a", "c", "d"] });
  });

  test("disconnected parts: the longest part wins, and a heavy lone node can beat a chain", () => {
    const chain = [node("x1", 2), node("x2", 2, ["x1"]), node("x3", 2, ["x2"])];
    expect(criticalPath([...chain, node("lone", 5)])).toEqual({ seconds: 6, path: ["x1", "x2", "x3"] });
    expect(criticalPath([...chain, node("lone", 600)])).toEqual({ seconds: 600, path: ["lone"] });
    expect(sumOfWeights([...chain, node("lone", 600)])).toBe(606);
  });

  test("zero-weight nodes (components, providers) pass time through without adding any", () => {
    const nodes = [node("account", 600), node("provider", 0, ["account"]), node("component", 0), node("key", 5, ["provider", "component"])];
    expect(criticalPath(nodes)).toEqual({ seconds: 605, path: ["account", "provider", "key"] });
  });

  test("a predecessor listed twice counts once", () => {
    expect(criticalPath([node("a", 1), node("b", 1, ["a", "a"])])).toEqual({ seconds: 2, path: ["a", "b"] });
  });

  test("a cycle is refused, naming the nodes it blocks", () => {
    const cycle = [node("a", 1, ["c"]), node("b", 1, ["a"]), node("c", 1, ["b"]), node("free", 1), node("behind", 1, ["c"])];
    expect(() => criticalPath(cycle)).toThrow(/cycle .*a, b, c, behind/);
    expect(() => criticalPath([node("self", 1, ["self"])])).toThrow(/cycle/);
  });

  test("malformed graphs are refused", () => {
    expect(() => criticalPath([node("a", 1), node("a", 2)])).toThrow(/duplicate node a/);
    expect(() => criticalPath([node("a", 1, ["ghost"])])).toThrow(/unknown node ghost/);
    expect(() => criticalPath([node("a", -1)])).toThrow(/weight -1/);
    expect(() => criticalPath([node("a", Number.NaN)])).toThrow(/weight NaN/);
    expect(() => criticalPath([node("a", Number.POSITIVE_INFINITY)])).toThrow(/weight Infinity/);
  });
});

/** Random DAGs: edges only go from a lower to a higher index (so no cycle), then the list is shuffled. */
const dagArb: fc.Arbitrary<GraphNode[]> = fc
  .integer({ min: 1, max: 25 })
  .chain((n) =>
    fc.tuple(
      fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: n, maxLength: n }),
      fc.array(fc.subarray([...Array(n).keys()]), { minLength: n, maxLength: n }),
      fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
    ),
  )
  .map(([weights, candidates, order]) =>
    order.map((i) => node(`n${i}`, weights[i]!, candidates[i]!.filter((j) => j < i).map((j) => `n${j}`))),
  );

/** Oracle: longest path ending at each node by memoized recursion. */
function bruteForce(nodes: readonly GraphNode[]): number {
  const byUrn = new Map(nodes.map((n) => [n.urn, n]));
  const memo = new Map<string, number>();
  const finish = (urn: string): number => {
    const known = memo.get(urn);
    if (known !== undefined) return known;
    const n = byUrn.get(urn)!;
    const value = n.weightSeconds + Math.max(0, ...n.after.map(finish));
    memo.set(urn, value);
    return value;
  };
  return Math.max(0, ...nodes.map((n) => finish(n.urn)));
}

describe("criticalPath properties", () => {
  test("max single weight ≤ critical path ≤ sum of weights", () => {
    fc.assert(
      fc.property(dagArb, (nodes) => {
        const { seconds } = criticalPath(nodes);
        expect(seconds).toBeLessThanOrEqual(sumOfWeights(nodes));
        expect(seconds).toBeGreaterThanOrEqual(Math.max(...nodes.map((n) => n.weightSeconds)));
      }),
    );
  });

  test("the path is a chain of real edges whose weights add up to the critical time, which is the longest", () => {
    fc.assert(
      fc.property(dagArb, (nodes) => {
        const result = criticalPath(nodes);
        const byUrn = new Map(nodes.map((n) => [n.urn, n]));
        for (let i = 1; i < result.path.length; i++) expect(byUrn.get(result.path[i]!)!.after).toContain(result.path[i - 1]);
        expect(sumOfWeights(result.path.map((urn) => byUrn.get(urn)!))).toBe(result.seconds);
        expect(result.seconds).toBe(bruteForce(nodes));
      }),
    );
  });

  test("closing any path into a loop is detected", () => {
    fc.assert(
      fc.property(dagArb, (nodes) => {
        const { path } = criticalPath(nodes);
        const first = path[0]!;
        const last = path.at(-1)!;
        const looped = nodes.map((n) => (n.urn === first ? { ...n, after: [...n.after, last] } : n));
        expect(() => criticalPath(looped)).toThrow(/cycle/);
      }),
    );
  });
});
