import { expect } from "vitest";
import type { Notice, NoticeType } from "../../src/notifications/notice.js";
import type { Service } from "../../src/compose.js";
import type { TestService } from "../helpers/service.js";

export interface Subscribed {
  readonly id: string;
  readonly secret: string;
}

/** Creates a subscription through the API (as the service's admin unless `authorization` is given). */
export async function subscribe(svc: TestService, body: Record<string, unknown>, authorization?: string): Promise<Subscribed> {
  const res = await svc.app.inject({ method: "POST", url: "/v1/webhooks", payload: body, ...(authorization ? { headers: { authorization } } : {}) });
  expect(res.statusCode, res.body).toBe(201);
  const json = res.json() as { webhook: { id: string }; secret: string };
  return { id: json.webhook.id, secret: json.secret };
}

export const notice = (team: string | null, n: number, type: NoticeType = "operation.finished"): Notice => ({
  type,
  team,
  subject: `providers/p-${n}`,
  data: { n },
});

/** Commits the notices in one transaction, as a cause would. */
export async function commitNotices(svc: Service, notices: readonly Notice[]): Promise<void> {
  await svc.db.transaction(async (tx) => {
    for (const n of notices) await svc.notify(tx, n);
  });
}

export async function deliveriesOf(svc: TestService, id: string, query = ""): Promise<Record<string, any>[]> {
  const res = await svc.app.inject({ method: "GET", url: `/v1/webhooks/${id}/deliveries?limit=100${query}` });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { items: Record<string, any>[] }).items;
}

export const eventOf = (body: string) => JSON.parse(body) as { id: string; type: string; subject: string; data: { n?: number } & Record<string, unknown> } & Record<string, unknown>;
