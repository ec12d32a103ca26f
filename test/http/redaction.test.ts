import { Writable } from "node:stream";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { createLogger, redactUrl } from "../../src/logger.js";

const CANARY = "canary-5e1d0b";
const FIELDS = ["password", "passphrase", "secret", "token", "apiKey", "key", "privateKey", "ticket", "clientSecret", "keyStorePassword", "kmsuserPassword"];

function capture() {
  const lines: string[] = [];
  const log = createLogger("info", new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }));
  return { log, lines, text: () => lines.join("") };
}

describe("log redaction", () => {
  it("censors credential headers wherever a headers object is logged", () => {
    const { log, lines, text } = capture();
    const headers = { authorization: `Bearer ${CANARY}`, cookie: `session=${CANARY}`, "x-api-key": CANARY, accept: "application/json" };
    log.info({ req: { method: "GET", headers } }, "request");
    log.info({ request: { headers } }, "request");
    log.info({ headers }, "headers at the top");
    expect(lines).toHaveLength(3);
    expect(text()).not.toContain(CANARY);
    expect(text()).toContain('"accept":"application/json"');
    expect(text()).toContain('"authorization":"[redacted]"');
  });

  it("censors stream tickets in the query and in the URL", () => {
    const { log, text } = capture();
    log.info({ req: { method: "GET", url: `/v1/operations/op-1/events?after=3&ticket=${CANARY}`, query: { after: "3", ticket: CANARY } } }, "request");
    expect(text()).not.toContain(CANARY);
    expect(text()).toContain('"url":"/v1/operations/op-1/events?after=3&ticket=[redacted]"');
    expect(text()).toContain('"after":"3"');
    expect(redactUrl(`/e?TICKET=${CANARY}#x`)).toBe("/e?TICKET=[redacted]#x");
    expect(redactUrl("/e?tickets=keep&not_ticket=keep")).toBe("/e?tickets=keep&not_ticket=keep");
  });

  it.each(FIELDS)("censors a field named %s one and two levels down", (field) => {
    const { log, lines, text } = capture();
    log.info({ engine: { [field]: CANARY, region: "eu-west-1" } }, "depth 1");
    log.info({ engine: { settings: { [field]: CANARY } }, operationId: "op-visible" }, "depth 2");
    if (field !== "key") log.info({ [field]: CANARY }, "top level");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(text()).not.toContain(CANARY);
    expect(text()).toContain('"region":"eu-west-1"');
    expect(text()).toContain('"operationId":"op-visible"');
  });

  it("Fastify's own request log carries the URL without the ticket", async () => {
    const { log, text } = capture();
    const app = Fastify({ loggerInstance: log });
    app.get("/v1/operations/:id/events", async () => ({ ok: true }));
    const res = await app.inject({ method: "GET", url: `/v1/operations/op-1/events?ticket=${CANARY}&after=7`, headers: { authorization: `Bearer ${CANARY}` } });
    expect(res.statusCode).toBe(200);
    await app.close();
    expect(text()).toContain("incoming request");
    expect(text()).toContain('"url":"/v1/operations/op-1/events?ticket=[redacted]&after=7"');
    expect(text()).toContain('"remoteAddress":"127.0.0.1"');
    expect(text()).not.toContain(CANARY);
  });
});
