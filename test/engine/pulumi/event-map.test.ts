import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { EngineEvent } from "../../../src/engine/engine.js";
import type { OpType } from "../../../src/engine/pulumi/automation.js";
import { createEventMapper, sanitizeText, type EventMapperOptions, type MapMode } from "../../../src/engine/pulumi/event-map.js";
import { ChangeSummary, EventData, type ResourceOp } from "../../../src/operations/events.js";
import { garbage, policyEvents, unknownKindEvents } from "./fixtures/odd.js";
import { recorded } from "./fixtures/recorded.js";
import { NAMES, TYPES, URN, diagnostic, event, failed, outputs, pre, state, summary, type Res } from "./fixtures/wire.js";

/** Maps a log with the clock at each event's timestamp; every produced event must satisfy the schema. */
function run(mode: MapMode, events: readonly unknown[], options: Omit<EventMapperOptions, "mode" | "now"> = {}) {
  let clock = 0;
  const mapper = createEventMapper({ mode, ...options, now: () => clock });
  const out = events.flatMap((e) => {
    const ts = (e as { timestamp?: unknown } | null)?.timestamp;
    if (typeof ts === "number") clock = ts * 1000;
    return mapper.map(e);
  });
  for (const e of out) EventData.parse(e);
  ChangeSummary.parse(mapper.summary());
  return { mapper, out };
}

const ref = (res: Res, op: ResourceOp) => ({ urn: URN[res], resourceType: TYPES[res], name: NAMES[res], op });
const planned = (res: Res, op: ResourceOp): EngineEvent => ({ type: "resource.planned", ...ref(res, op) });
const progress = (done: number, total: number): EngineEvent => ({ type: "progress", done, total });
const zero = { create: 0, update: 0, delete: 0, replace: 0, same: 0 };
/** The AWS error of the recorded failed up (the stand-in plugin words it as the AWS provider does). */
const ENDPOINT_MESSAGE = expect.stringMatching(
  /^creating VpcEndpoint: operation error VpcEndpoint: https response error StatusCode: 400, RequestID: [0-9a-f-]{36}, api error InvalidServiceName: The Vpc Endpoint Service 'com\.amazonaws\.vpce\.eu-west-1\.vpce-svc-0fedcba9876543210' does not exist$/,
) as unknown as string;
const completed = (res: Res, op: ResourceOp): EngineEvent => ({ type: "resource.completed", ...ref(res, op), durationMs: 0 });
const started = (res: Res, op: ResourceOp): EngineEvent => ({ type: "resource.started", ...ref(res, op) });

describe("preview (recorded)", () => {
  it("plans every resource once, but not the root stack nor the default provider; debug diagnostics stay out", () => {
    const { mapper, out } = run("preview", recorded("preview-create"));
    // The recorded order: the CLI plans as the program registers.
    expect(out).toEqual([planned("provider", "create"), planned("sg", "create"), planned("scp", "create"), planned("rule", "create"), planned("endpoint", "create")]);
    expect(mapper.steps()).toEqual((["provider", "sg", "scp", "rule", "endpoint"] as const).map((r) => ref(r, "create")));
    // resourceChanges {create: 6} counts the root stack (taken off), not the default provider.
    expect(mapper.summary()).toEqual({ ...zero, create: 5 });
    expect(mapper.failures()).toEqual([]);
    expect([mapper.ended(), mapper.maybeCorrupt()]).toEqual([true, false]);
  });

  it("counts steps when no summaryEvent arrived", () => {
    const { mapper } = run("preview", recorded("preview-create").filter((e) => !("summaryEvent" in e)));
    expect(mapper.summary()).toEqual({ ...zero, create: 5 });
  });

  it("a destroy preview (with the program run) plans the deletes and leaves the program's registrations out", () => {
    const { mapper, out } = run("preview", recorded("preview-destroy"), { omitSame: true });
    expect(out).toEqual([planned("rule", "delete"), planned("endpoint", "delete"), planned("sg", "delete"), planned("provider", "delete")]);
    expect(mapper.summary()).toEqual({ ...zero, delete: 4 });
    // Without omitSame every registration of the program would be a step.
    expect(run("preview", recorded("preview-destroy")).mapper.steps().filter((s) => s.op === "same")).toHaveLength(5);
  });

  it("maps every Pulumi op, and one replace (create-replacement/replace/delete-replaced) is one step", () => {
    const expected: Record<OpType, ResourceOp> = {
      same: "same", create: "create", import: "create", update: "update", delete: "delete", discard: "delete",
      "discard-replaced": "delete", "remove-pending-replace": "delete", replace: "replace", "create-replacement": "replace",
      "delete-replaced": "replace", "import-replacement": "replace", read: "same", "read-replacement": "same", refresh: "same",
    };
    for (const [op, ours] of Object.entries(expected)) {
      expect(run("preview", [pre(1, 0, op as OpType, "sg", { planning: true })]).out).toEqual([planned("sg", ours)]);
    }
    const { mapper, out } = run("preview", (["create-replacement", "replace", "delete-replaced"] as const).map((op, i) => pre(i, 0, op, "sg")));
    expect(out).toEqual([planned("sg", "replace")]);
    expect(mapper.summary()).toEqual({ ...zero, replace: 1 });
  });

  it("fails a resource on its error diagnostic, as previews send no resOpFailedEvent", () => {
    const message = "<{%fg 1%}>preview failed: creating security group: InvalidGroup.Duplicate<{%reset%}>\n";
    const { mapper } = run("preview", [pre(1, 0, "create", "sg", { planning: true }), diagnostic(2, 0, "error", message, "sg")]);
    const failure = { urn: URN.sg, resourceType: TYPES.sg, name: NAMES.sg, message: "preview failed: creating security group: InvalidGroup.Duplicate" };
    expect(mapper.failures()).toEqual([failure]);
  });

  it("takes only create/update/delete/replace/same from resourceChanges, as whole non-negative numbers", () => {
    const changes = { create: 1, "create-replacement": 2, "delete-replaced": 2, replace: 2, read: 3, refresh: 1, same: 4, update: -1, delete: 1.7 };
    const { mapper } = run("preview", [pre(1, 0, "same", "stack"), summary(2, 0, changes, true)]);
    expect(mapper.summary()).toEqual({ create: 1, update: 0, delete: 1, replace: 2, same: 3 });
  });
});

describe("apply (recorded)", () => {
  it("reports a create: each resource started, then completed, with progress up to the planned total", () => {
    const { mapper, out } = run("apply", recorded("up-create"), { total: 5 });
    expect(out).toEqual([
      started("provider", "create"),
      started("scp", "create"),
      completed("provider", "create"),
      progress(1, 5),
      completed("scp", "create"),
      progress(2, 5),
      started("sg", "create"),
      completed("sg", "create"),
      progress(3, 5),
      started("rule", "create"),
      started("endpoint", "create"),
      completed("endpoint", "create"),
      progress(4, 5),
      completed("rule", "create"),
      progress(5, 5),
    ]);
    expect(mapper.summary()).toEqual({ ...zero, create: 5 });
  });

  it("reports an up with replacements and a failed create: the group and rule replaced, the endpoint's replacement failed", () => {
    const { mapper, out } = run("apply", recorded("up-replace-fail"), { total: 5 });
    expect(out).toEqual([
      completed("provider", "same"),
      progress(1, 5),
      started("sg", "replace"),
      completed("sg", "replace"),
      progress(2, 5),
      completed("scp", "same"),
      progress(3, 5),
      started("rule", "replace"),
      completed("rule", "replace"),
      progress(4, 5),
      started("endpoint", "replace"),
      // The CLI names the resource in its error diagnostic, then sends resOpFailedEvent (op create-replacement).
      { type: "diagnostic", severity: "error", urn: URN.endpoint, message: ENDPOINT_MESSAGE },
      { type: "resource.failed", ...ref("endpoint", "replace"), durationMs: 0, message: ENDPOINT_MESSAGE },
      progress(5, 5),
      // "update failed" has no URN in the real stream.
      { type: "diagnostic", severity: "error", message: "update failed" },
    ]);
    expect(mapper.steps()).toEqual([ref("provider", "same"), ref("sg", "replace"), ref("scp", "same"), ref("rule", "replace")]);
    // resourceChanges {replace: 2, same: 3}: the root stack is one of the three.
    expect(mapper.summary()).toEqual({ ...zero, replace: 2, same: 2 });
    expect(mapper.failures()).toEqual([{ urn: URN.endpoint, resourceType: TYPES.endpoint, name: NAMES.endpoint, message: ENDPOINT_MESSAGE }]);
  });

  it("the next up replaces the endpoint and deletes the copies the failed one left: every started step completes", () => {
    const { mapper, out } = run("apply", recorded("up-replace"));
    expect(out.filter((e) => e.type !== "progress")).toEqual([
      completed("provider", "same"),
      completed("sg", "same"),
      completed("scp", "same"),
      completed("rule", "same"),
      started("endpoint", "replace"),
      completed("endpoint", "replace"),
      // Old copies of the group and the rule, replaced by the failed up: deletes now (delete-replaced, old.delete).
      started("rule", "delete"),
      completed("rule", "delete"),
      started("sg", "delete"),
      completed("sg", "delete"),
    ]);
    expect(mapper.steps().map((s) => `${s.op} ${s.name}`)).toEqual(["same network", "same acme-sg", "same acme-scp", "same acme-sg-https", "replace acme-endpoint", "delete acme-sg-https", "delete acme-sg"]);
    expect(mapper.summary()).toEqual({ ...zero, replace: 1, same: 4 });
  });

  it("without a total, progress counts up to what is done", () => {
    const totals = run("apply", recorded("up-replace-fail")).out.flatMap((e) => (e.type === "progress" ? [[e.done, e.total]] : []));
    expect(totals).toEqual([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]);
    expect(run("apply", recorded("up-replace-fail"), { total: 2 }).out.filter((e) => e.type === "progress").at(-1)).toEqual(progress(5, 5));
  });

  it("completes a delete-before-replace when the replacement exists, timed from the delete", () => {
    const events = [
      pre(1, 0, "delete-replaced", "sg"),
      outputs(2, 2, "delete-replaced", "sg"),
      pre(3, 2, "replace", "sg"),
      outputs(4, 2, "replace", "sg"),
      pre(5, 2, "create-replacement", "sg"),
      outputs(6, 6, "create-replacement", "sg"),
    ];
    expect(run("apply", events).out).toEqual([
      { type: "resource.started", ...ref("sg", "replace") },
      { type: "resource.completed", ...ref("sg", "replace"), durationMs: 6000 },
      progress(1, 1),
    ]);
  });

  it("reports a destroy: only the deletes (not the program's registrations, the default provider or the root stack)", () => {
    const { mapper, out } = run("apply", recorded("destroy"), { omitSame: true, total: 4 });
    expect(out).toEqual([
      // A --run-program destroy: the program ran, and one of its outputs is gone with the SCP.
      { type: "diagnostic", severity: "warning", message: "Undefined value (scpArn) will not show as a stack output." },
      started("rule", "delete"),
      started("endpoint", "delete"),
      completed("rule", "delete"),
      progress(1, 4),
      completed("endpoint", "delete"),
      progress(2, 4),
      started("sg", "delete"),
      completed("sg", "delete"),
      progress(3, 4),
      started("provider", "delete"),
      completed("provider", "delete"),
      progress(4, 4),
    ]);
    // resourceChanges {delete: 5, same: 6}: the root stack is in both.
    expect(mapper.summary()).toEqual({ ...zero, delete: 4 });
  });

  it("ignores planning events and gives a generic message when no error diagnostic named the resource", () => {
    expect(run("apply", recorded("preview-create")).out).toEqual([]);
    const { mapper, out } = run("apply", [failed(1, 0, "create", "endpoint", 0)]);
    const message = "aws:ec2/vpcEndpoint:VpcEndpoint acme-endpoint: create failed (the engine gave no error message)";
    expect(out).toEqual([{ type: "resource.failed", ...ref("endpoint", "create"), durationMs: 0, message }, progress(1, 1)]);
    expect(mapper.failures()).toEqual([{ urn: URN.endpoint, resourceType: TYPES.endpoint, name: NAMES.endpoint, message }]);
    expect(mapper.summary()).toEqual(zero);
  });

  it("says when the summary reports possibly corrupt state", () => {
    const { mapper, out } = run("apply", [summary(1, 0, { update: 1 }, false, true)]);
    expect(out).toEqual([{ type: "diagnostic", severity: "error", message: expect.stringContaining("may be corrupt") }]);
    expect(mapper.maybeCorrupt()).toBe(true);
  });
});

describe("drift (previewRefresh, recorded)", () => {
  it("plans each refreshed resource from its refresh step, warning with the changed keys only; providers and the program's registrations are not drift", () => {
    // Recorded after the rule's tags and description were edited in the cloud and the SCP deleted there.
    const { mapper, out } = run("drift", recorded("refresh-preview-drift"));
    expect(out).toEqual([
      planned("sg", "same"),
      planned("scp", "delete"),
      { type: "diagnostic", severity: "warning", urn: URN.scp, message: "Drift: aws:organizations/policy:Policy acme-scp no longer exists in the cloud (deleted outside Pulumi)" },
      planned("rule", "update"),
      {
        type: "diagnostic",
        severity: "warning",
        urn: URN.rule,
        message: "Drift: aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule acme-sg-https changed outside Pulumi (changed: description, tags)",
      },
      planned("endpoint", "same"),
    ]);
    // Keys, never values.
    expect(JSON.stringify(out)).not.toMatch(/by-hand|edited in the console/);
    expect(mapper.summary()).toEqual({ ...zero, same: 2, update: 1, delete: 1 });
    // The drift check's result carries the changed keys of each update (issue 16: the provider's drift object).
    expect(mapper.steps().filter((st) => st.op !== "same").map((st) => [st.name, st.op, st.keys])).toEqual([
      ["acme-scp", "delete", undefined],
      ["acme-sg-https", "update", ["description", "tags"]],
    ]);
  });

  it("a refresh's update of a provider or a component, and the program's own registrations, are not drift", () => {
    const component = "urn:pulumi:acme::saas-bridge::saas-bridge:kms:ByokKey::acme";
    const componentState = { type: "saas-bridge:kms:ByokKey", urn: component, id: "", parent: URN.stack, inputs: {}, outputs: {}, provider: "" };
    const events = [
      outputs(1, 0, "update", "provider", { old: state("provider"), new: state("provider") }),
      event(2, 0, { resOutputsEvent: { metadata: { op: "update", urn: component, type: "saas-bridge:kms:ByokKey", old: componentState, new: componentState } } }),
      // A refresh step's outputs event is not logical (the real stream's shape).
      event(3, 0, { resOutputsEvent: { metadata: { op: "same", urn: URN.sg, type: TYPES.sg, old: state("sg"), new: state("sg"), detailedDiff: null } } }),
    ];
    expect(run("drift", events).out).toEqual([planned("sg", "same")]);
    // The logical same of the security group (the program's registration) is left out like the rest.
    expect(run("drift", [...events.slice(0, 2), outputs(3, 0, "same", "sg", { old: state("sg"), new: state("sg") })]).out).toEqual([]);
  });

  it("takes drift from diffs alone, and from the engine's verdict when states are missing", () => {
    const sg = { type: TYPES.sg, urn: URN.sg, custom: true, id: "sg-1", outputs: { a: 1 } };
    const only = (meta: Record<string, unknown>) => run("drift", [event(1, 0, { resOutputsEvent: { metadata: { urn: URN.sg, type: TYPES.sg, ...meta } } })]).out[0];
    expect(only({ op: "same", old: sg, new: sg, diffs: ["ingress[0].cidrBlocks"] })).toEqual(planned("sg", "update"));
    expect(only({ op: "same", old: sg, new: sg, detailedDiff: {} })).toEqual(planned("sg", "same"));
    expect(only({ op: "update", old: null, new: null })).toEqual(planned("sg", "update"));
    expect(only({ op: "same" })).toEqual(planned("sg", "same"));
    expect(only({ op: "same", old: sg, new: null })).toEqual(planned("sg", "delete"));
  });
});

describe("policy packs and odd events", () => {
  it("turns mandatory violations into guardrail.violation and the rest into warnings", () => {
    expect(run("preview", policyEvents).out).toEqual([
      { type: "guardrail.violation", code: "landing-zone-guardrails/no-public-ingress", message: "Security groups must not allow ingress from 0.0.0.0/0.", urn: URN.sg },
      { type: "diagnostic", severity: "warning", urn: URN.endpoint, message: "landing-zone-guardrails/tag-owner: Resources should carry an owner tag." },
      { type: "guardrail.violation", code: "landing-zone-guardrails/stack-budget", message: "Stack exceeds its budget." },
    ]);
  });

  it("maps unknown kinds, raw text, config, debug and ephemeral diagnostics to nothing", () => {
    for (const mode of ["preview", "apply", "drift"] as const) {
      const { mapper, out } = run(mode, unknownKindEvents);
      expect(out).toEqual([]);
      expect(mapper.ended()).toBe(true);
    }
  });

  it("maps garbage to nothing and keeps no state from it", () => {
    for (const mode of ["preview", "apply", "drift"] as const) {
      const mapper = createEventMapper({ mode });
      for (const g of garbage) expect(mapper.map(g)).toEqual([]);
      expect([mapper.steps(), mapper.failures(), mapper.summary(), mapper.ended()]).toEqual([[], [], zero, false]);
    }
  });

  it("names a resource by the URN's name part, which may contain ::", () => {
    const urn = "urn:pulumi:acme::saas-bridge::saas:index:Provider$aws:s3/bucket:Bucket::logs::eu";
    const out = createEventMapper({ mode: "preview" }).map({ resourcePreEvent: { metadata: { op: "create", urn, type: "aws:s3/bucket:Bucket" } } });
    expect(out).toEqual([{ type: "resource.planned", urn, resourceType: "aws:s3/bucket:Bucket", name: "logs::eu", op: "create" }]);
  });
});

describe("sanitizeText", () => {
  it.each([
    ["\x1b[31mred\x1b[0m and \x1b[1;4mbold\x1b[m", "red and bold"],
    ["<{%fg 1%}>error:<{%reset%}> <{%bold%}>x<{%reset%}>", "error: x"],
    ["<{%<{%reset%}>reset%}>nested", "nested"],
    ["\x1b]8;;https://evil.example\x07click\x1b]8;;\x07", "click"],
    ["a\u0000b\u0007c\u009bd\r\ne\tf\u202eg\u0008h", "abcd\ne\tfgh"],
    ["  \n  padded \n\n ", "padded"],
    ["\x1b[0m<{%reset%}>\u0007", ""],
  ])("%j → %j", (input, expected) => expect(sanitizeText(input)).toBe(expected));

  it("caps at 4,000 characters, says so, and never splits a surrogate pair", () => {
    const long = sanitizeText("a".repeat(5000));
    expect([long.length, long.endsWith("…(truncated)"), long.startsWith("aaaa")]).toEqual([4000, true, true]);
    const emoji = sanitizeText("a".repeat(3987) + "😀".repeat(10));
    expect(emoji).toBe("a".repeat(3987) + "…(truncated)");
    expect(sanitizeText("x".repeat(10_000_000))).toHaveLength(4000);
    expect([sanitizeText(undefined), sanitizeText(42), sanitizeText({ toString: () => "x" })]).toEqual(["", "", ""]);
  });

  it("is applied to every forwarded message, and a message that ends up empty is dropped", () => {
    const mapper = createEventMapper({ mode: "apply" });
    const dirty = { diagnosticEvent: { message: "\x1b[33m<{%fg 3%}>warn\u0000ing\x1b[0m " + "y".repeat(5000), severity: "warning" } };
    const [d] = mapper.map(dirty);
    expect(d).toMatchObject({ type: "diagnostic", message: expect.stringMatching(/^warning y+…\(truncated\)$/) });
    expect(d && "message" in d ? d.message.length : 0).toBe(4000);
    expect(mapper.map({ diagnosticEvent: { message: "<{%reset%}>\x1b[0m\n", severity: "error" } })).toEqual([]);
  });
});

describe("map never throws", () => {
  it("survives cyclic objects, throwing getters and proxies", () => {
    const cyclic: Record<string, unknown> = { op: "create", urn: URN.sg, type: TYPES.sg };
    cyclic["old"] = cyclic;
    const loop = (): Record<string, unknown> => {
      const o: Record<string, unknown> = { a: 1 };
      o["self"] = o;
      o["again"] = o;
      return o;
    };
    const drifting = { op: "same", urn: URN.sg, type: TYPES.sg, old: { custom: true, outputs: loop() }, new: { custom: true, outputs: loop() } };
    const throwing = Object.defineProperty({}, "resourcePreEvent", { enumerable: true, get: () => { throw new Error("boom"); } });
    const proxy = new Proxy({}, { get: () => { throw new Error("get"); }, has: () => { throw new Error("has"); }, ownKeys: () => { throw new Error("keys"); } });
    for (const mode of ["preview", "apply", "drift"] as const) {
      const mapper = createEventMapper({ mode, now: () => Number.NaN });
      for (const e of [{ resourcePreEvent: { metadata: cyclic } }, throwing, proxy, { resOutputsEvent: { metadata: proxy } }]) {
        expect(() => mapper.map(e)).not.toThrow();
      }
      const out = mapper.map({ resOutputsEvent: { metadata: drifting } });
      if (mode === "drift") expect(out[0]).toEqual({ type: "resource.planned", ...ref("sg", "update") });
      for (const e of out) EventData.parse(e);
    }
  });

  it("maps anything to schema-valid events, whatever the mode and order", () => {
    const ops = ["same", "create", "update", "delete", "replace", "create-replacement", "delete-replaced", "refresh", "teleport", "toString"];
    const kinds = ["resourcePreEvent", "resOutputsEvent", "resOpFailedEvent", "diagnosticEvent", "policyEvent", "summaryEvent", "cancelEvent", "progressEvent"];
    const text = fc.oneof(fc.string(), fc.constantFrom(...Object.values(URN), ...Object.values(TYPES), "\x1b[31m<{%reset%}>\u0000"), fc.anything());
    const metadata = fc.record({ op: fc.oneof(fc.constantFrom(...ops), fc.anything()), urn: text, type: text, old: fc.anything(), new: fc.anything(), diffs: fc.anything(), detailedDiff: fc.anything() }, { requiredKeys: [] });
    const payload = fc.oneof(
      fc.anything(),
      fc.record({ metadata, planning: fc.anything() }, { requiredKeys: [] }),
      fc.record({ message: text, severity: fc.constantFrom("error", "warning", "info", "info#err", "debug"), urn: text, ephemeral: fc.anything(), enforcementLevel: fc.constantFrom("mandatory", "warning", "advisory"), policyName: text, resourceUrn: text, resourceChanges: fc.dictionary(fc.constantFrom(...ops), fc.anything()), maybeCorrupt: fc.boolean() }, { requiredKeys: [] }),
    );
    const anEvent = fc.oneof(fc.anything(), fc.tuple(fc.constantFrom(...kinds), payload, fc.integer()).map(([k, p, t]) => ({ sequence: 1, timestamp: t, [k]: p })));
    fc.assert(
      fc.property(fc.constantFrom("preview", "apply", "drift" as const), fc.array(anEvent, { maxLength: 25 }), fc.option(fc.double()), (mode, events, total) => {
        const { mapper } = run(mode, events, total === null ? {} : { total });
        for (const s of mapper.steps()) expect(["create", "update", "delete", "replace", "same"]).toContain(s.op);
        for (const f of mapper.failures()) expect(typeof f.message).toBe("string");
      }),
      { numRuns: 400 },
    );
  });
});
