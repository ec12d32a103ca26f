import { describe, expect, it } from "vitest";
import { negotiate } from "../../src/http/negotiate.js";
import { clean, createTextFormatter } from "../../src/http/text-progress.js";

describe("content negotiation", () => {
  it.each([
    [undefined, "json"],
    ["*/*", "json"],
    ["application/json", "json"],
    ["text/event-stream", "sse"],
    ["application/x-ndjson", "ndjson"],
    ["text/plain", "text"],
    ["text/html;q=0.9, application/x-ndjson", "ndjson"],
    ["image/png", undefined],
  ])("%s → %s", (accept, expected) => {
    expect(negotiate(accept)).toBe(expected);
  });
});

describe("text progress view", () => {
  it("prints [done/total] lines in the documented shape", () => {
    const fmt = createTextFormatter("create acme");
    const at = "2026-01-01T00:00:00.000Z";
    expect(fmt({ seq: 1, at, type: "progress", done: 0, total: 31 })).toBe("create acme\nplan: 31 resource(s)\n");
    fmt({ seq: 2, at, type: "progress", done: 6, total: 31 });
    const line = fmt({
      seq: 3,
      at,
      type: "resource.completed",
      urn: "u",
      resourceType: "aws:ec2/vpcEndpoint:VpcEndpoint",
      name: "acme-endpoint",
      op: "create",
      durationMs: 1234,
    });
    expect(line).toBe("[ 7/31] + aws:ec2/vpcEndpoint acme-endpoint created 1.2s\n");
  });

  it("strips terminal control sequences from untrusted text", () => {
    expect(clean("ok\u001b[31mred\u001b[0m\r\nnext\u0007")).toBe("okred next");
  });
});
