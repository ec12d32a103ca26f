import { expect } from "vitest";
import { specNamed, waitForStatus, type TestService } from "../helpers/service.js";

type Json = Record<string, any>;

/** Onboards each provider (and revokes some), waiting for every operation; with `approver`, a second admin approves each. */
export async function onboard(svc: TestService, names: readonly string[], options: { revoke?: readonly string[]; approver?: string } = {}): Promise<void> {
  const run = async (method: "POST", url: string, payload?: Json) => {
    const res = await svc.app.inject({ method, url, ...(payload ? { payload } : {}) });
    expect(res.statusCode, res.body).toBe(202);
    const op = (res.json() as Json).operation as Json;
    if (options.approver !== undefined && op.status === "awaiting_approval") {
      const approved = await svc.app.inject({
        method: "POST",
        url: `/v1/operations/${op.id}/approve`,
        headers: { authorization: `Bearer ${options.approver}` },
        payload: { specHash: op.specHash },
      });
      expect(approved.statusCode, approved.body).toBe(200);
    }
    await waitForStatus(svc, op.id, ["succeeded"], 60_000);
  };
  for (const name of names) await run("POST", "/v1/providers", specNamed(name));
  for (const name of options.revoke ?? []) await run("POST", `/v1/providers/${name}/revoke`);
}

/** The rollout's operations (rows), in queue order. */
export async function rolloutOps(svc: TestService, rolloutId: string): Promise<Json[]> {
  return svc.db.query<Json>(`SELECT * FROM operations WHERE rollout_id = $1 ORDER BY queue_seq`, [rolloutId]).then((rows) =>
    rows.map((r) => ({ ...r, started_at: r.started_at && new Date(r.started_at).toISOString(), finished_at: r.finished_at && new Date(r.finished_at).toISOString() })),
  );
}

/** Polls the rollout until it has finished (or reached one of `statuses`), bounded in time. */
export async function waitForRollout(svc: TestService, id: string, statuses?: readonly string[], timeoutMs = 60_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = (await svc.app.inject({ method: "GET", url: `/v1/rollouts/${id}` })).json() as Json;
    if (statuses ? statuses.includes(String(body.status)) : body.finishedAt !== null && body.finishedAt !== undefined) return body;
    if (Date.now() > deadline) throw new Error(`rollout ${id} still ${String(body.status)} after ${timeoutMs} ms: ${JSON.stringify(body.counts)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The most operations that ran at the same moment (from their started/finished times). */
export function maxOverlap(ops: readonly Json[]): number {
  const edges = ops.flatMap((o) => [
    [Date.parse(o.started_at), 1],
    [Date.parse(o.finished_at), -1],
  ]) as [number, number][];
  // An end at the same instant as a start frees its slot first.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (now += d));
  return max;
}
