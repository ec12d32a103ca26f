import { afterAll, beforeAll, expect, it } from "vitest";
import { specNamed, startTestService, type TestService } from "../helpers/service.js";

/**
 * The open-stream cap per principal (issue #5) over a real socket: at the cap, a streaming mutation is
 * refused with 429 before it creates anything, and closing a stream frees the slot.
 */
let svc: TestService;
let base = "";

beforeAll(async () => {
  // Paused: the first operation never ends, so its stream stays open as long as the client keeps it.
  svc = await startTestService({ config: { MAX_STREAMS_PER_PRINCIPAL: 1 }, start: false });
  await svc.app.listen({ port: 0, host: "127.0.0.1" });
  base = `http://127.0.0.1:${(svc.app.server.address() as { port: number }).port}`;
});
afterAll(() => svc.close(1_000));

it("at the cap a streaming create is refused before anything is created; closing a stream frees the slot", async () => {
  const created = (await (
    await fetch(`${base}/v1/providers`, { method: "POST", headers: { ...svc.authHeaders, "content-type": "application/json" }, body: JSON.stringify(specNamed("cap-one")) })
  ).json()) as { operation: { id: string } };
  const ac = new AbortController();
  const open = await fetch(`${base}/v1/operations/${created.operation.id}/events`, { headers: { ...svc.authHeaders, accept: "text/event-stream" }, signal: ac.signal });
  expect(open.status).toBe(200);

  const refused = await fetch(`${base}/v1/providers`, {
    method: "POST",
    headers: { ...svc.authHeaders, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(specNamed("cap-two")),
  });
  expect(refused.status).toBe(429);
  expect(((await refused.json()) as { code: string }).code).toBe("TOO_MANY_STREAMS");
  expect(await svc.db.query(`SELECT 1 FROM providers WHERE name = 'cap-two'`)).toEqual([]);
  // Another principal has slots of its own.
  const other = await svc.createKey("viewer", ["data-platform"]);
  const theirs = await fetch(`${base}/v1/operations/${created.operation.id}/events?after=0`, { headers: { authorization: `Bearer ${other}`, accept: "application/x-ndjson" } });
  expect(theirs.status).toBe(200);
  await theirs.body?.cancel();

  ac.abort();
  await open.body?.cancel().catch(() => undefined);
  const deadline = Date.now() + 5_000;
  let again = 0;
  while (Date.now() < deadline) {
    const res = await fetch(`${base}/v1/operations/${created.operation.id}/events`, { headers: { ...svc.authHeaders, accept: "application/x-ndjson" } });
    again = res.status;
    await res.body?.cancel();
    if (again === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(again).toBe(200);
});
