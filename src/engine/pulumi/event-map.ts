import type { ChangeSummary, ResourceOp } from "../../operations/events.js";
import type { EngineEvent, PlannedStep } from "../engine.js";
import type { OpMap, OpType, PulumiEngineEvent } from "./automation.js";

/**
 * Pulumi engine events → our EngineEvent union; one mapper per operation, pure apart from `now`.
 * `map` never throws: the SDK calls onEvent inside the try around JSON.parse and logs anything
 * thrown as "Failed to parse engine event" (automation/stack.js), so a throw would lose the event.
 *
 * Read in pulumi/pulumi, and checked against streams recorded from the CLI v3.248.0
 * (test/engine/pulumi/fixtures/recorded, `npm run fixtures:record`):
 * - sdk/go/common/apitype/events.go: `old`/`new` lack omitempty (a missing state is null),
 *   `detailedDiff` may be null or {}; progressEvent, errorEvent, policyLoadEvent… exist.
 * - pkg/engine/update.go: an applied step emits resourcePreEvent (planning false), then either an
 *   error diagnostic for its URN and resOpFailedEvent, or resOutputsEvent; previews emit both with
 *   planning true and report failures only as diagnostics. With `isRefresh` (pkg/engine/refresh.go
 *   sets it for dry runs too: previewRefresh = `refresh --preview-only`) the outputs event carries
 *   RefreshStep.ResultOp() (same|update|delete); the pre event says "refresh". resourceChanges
 *   counts Logical steps: the root stack, not create-replacement/delete-replaced, and not default
 *   providers (isInternalStep). Update() ends every operation with a cancelEvent (defer).
 * - pkg/resource/deploy/step.go: a RefreshStep starts with new = old (its pre event shows no drift),
 *   reads even in previews, sets new = nil when the resource is gone; Diffs/DetailedDiff are the
 *   refresh diff. ReplaceStep is the logical step over create-replacement and delete-replaced.
 * Seen in the recorded streams and handled below: default providers' steps are in the event log (and
 * not in resourceChanges); a `--run-program` refresh or destroy also reports every registration of the
 * program as a logical `same` step; a refresh reports providers and components as `update`; the root
 * stack can have two ops in one run (destroy: same, then delete); replaced copies left by a failed run
 * are deleted by the next one as `delete-replaced` with `old.delete`; debug diagnostics are in the log.
 */
export type MapMode = "preview" | "apply" | "drift";

export interface EventMapperOptions {
  readonly mode: MapMode;
  /**
   * Leave `same` steps out (steps, events, summary). A destroy with `--run-program` runs the program
   * first, and the real CLI reports every registration as a `same` step before the deletes: bookkeeping,
   * not a change to the stack.
   */
  readonly omitSame?: boolean;
  /** Expected number of steps (from a preview); progress totals never drop below the done count. */
  readonly total?: number;
  readonly now?: () => number;
}

export interface ResourceFailure extends Omit<PlannedStep, "op"> {
  readonly message: string;
}

export interface EventMapper {
  /** Never throws. Malformed, partial or unknown events (progressEvent, errorEvent, policyLoadEvent…) give []. */
  map(event: unknown): EngineEvent[];
  /** preview/drift: the planned steps in arrival order; apply: the steps applied (failed ones excluded). */
  steps(): PlannedStep[];
  /** summaryEvent.resourceChanges less the root stack when one arrived, else counted from steps(); drift: from steps(). */
  summary(): ChangeSummary;
  /** Resources with a failed step or an error diagnostic, with the last error message for that URN. */
  failures(): ResourceFailure[];
  /** The summaryEvent said a step ended in an unknown state. */
  maybeCorrupt(): boolean;
  /** The cancelEvent arrived: the CLI sends it last, after success, failure and cancellation alike. */
  ended(): boolean;
  /** Resource plugins (by package name) that exited in the middle of the operation. */
  crashedPlugins(): string[];
}

const OPS = new Map<string, ResourceOp>(Object.entries({
  same: "same", create: "create", import: "create", update: "update",
  delete: "delete", discard: "delete", "discard-replaced": "delete", "remove-pending-replace": "delete",
  replace: "replace", "create-replacement": "replace", "delete-replaced": "replace", "import-replacement": "replace",
  read: "same", "read-replacement": "same", refresh: "same",
} satisfies Record<OpType, ResourceOp>));
// In apply mode a replace completes when the new resource exists. pkg/resource/deploy/step_generator.go
// orders create-replacement, replace, …, delete-replaced (last), or for delete-before-replace
// delete-replaced, replace, create-replacement.
const REPLACEMENT_MADE = new Set<string>(["create-replacement", "import-replacement"] satisfies OpType[]);
const REPLACING = new Set<string>(["create-replacement", "import-replacement", "replace"] satisfies OpType[]);
const COUNTED = ["create", "update", "delete", "replace", "same"] as const satisfies readonly (keyof OpMap & ResourceOp)[];
const SEVERITY = new Map([["error", "error"], ["warning", "warning"], ["info", "info"], ["info#err", "info"]] as const);
const ROOT_TYPE = "pulumi:pulumi:Stack";
const PROVIDER_PREFIX = "pulumi:providers:";
const DEFAULT_PROVIDER = /^pulumi:providers:[^:]+::default(_\d+_\d+_\d+.*)?$/;
const CORRUPT =
  "Pulumi reports that the stack state may be corrupt: a resource operation ended in an unknown state. " +
  "Refresh the stack before the next update.";

// The CLI's words when a plugin process dies (pkg/resource/plugin/plugin.go), followed by the plugin's
// path under PULUMI_HOME and a dump of its output: neither is for users.
const PLUGIN_EXITED = /Detected that \S*pulumi-resource-([A-Za-z0-9_-]{1,64}) exited prematurely/;

const MAX_TEXT = 4000;
const TRUNCATED = "…(truncated)";
// CSI/OSC/two-character escapes, Pulumi colour markup, and C0/C1 controls (not \t \n) plus bidi overrides.
const ANSI = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;
const MARKUP = /<\{%[^%\n]{0,40}%\}>/g;
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Untrusted engine text → plain text for users: no escapes, markup or controls, trimmed, at most 4,000 characters. */
export function sanitizeText(input: unknown): string {
  if (typeof input !== "string") return "";
  const window = input.slice(0, MAX_TEXT * 16);
  let text = window.replace(/\r\n/g, "\n").replace(ANSI, "").replace(CONTROL, "");
  for (let previous = ""; previous !== text; ) [previous, text] = [text, text.replace(MARKUP, "")];
  text = text.trim();
  if (text.length <= MAX_TEXT && window.length === input.length) return text;
  text = text.slice(0, MAX_TEXT - TRUNCATED.length).trimEnd();
  if (/[\ud800-\udbff]$/.test(text)) text = text.slice(0, -1);
  return text + TRUNCATED;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const own = (o: Obj | undefined, key: string): unknown => (o !== undefined && Object.hasOwn(o, key) ? o[key] : undefined);
/** Identifiers (URNs, types) are kept verbatim apart from control characters. */
const ident = (v: unknown): string | undefined => (typeof v === "string" ? v.replace(CONTROL, "").slice(0, 2048) || undefined : undefined);

// URN = urn:pulumi:<stack>::<project>::<qualified type>::<name>; the name may itself contain "::"
// (sdk/go/common/resource/urn.go, Name()), the qualified type is parent$child.
const urnParts = (urn: string) => urn.split("::");
const nameOf = (urn: string) => urnParts(urn).slice(3).join("::") || urnParts(urn).at(-1) || urn;
const typeOf = (urn: string) => urnParts(urn)[2]?.split("$").at(-1) ?? "";

interface Step extends PlannedStep {
  readonly pulumiOp: string;
  readonly meta: Obj;
}

function readStep(payload: unknown): Step | undefined {
  const meta = obj(own(obj(payload), "metadata"));
  const urn = ident(own(meta, "urn"));
  const resourceType = ident(own(meta, "type"));
  const pulumiOp = own(meta, "op");
  const op = typeof pulumiOp === "string" ? OPS.get(pulumiOp) : undefined;
  if (!meta || !urn || !resourceType || !op) return undefined;
  return { urn, resourceType, name: nameOf(urn), op, pulumiOp: pulumiOp as string, meta };
}

/** A step's state says the resource is not custom (a component): `custom` is true on every cloud resource's state. */
function isComponent(meta: Obj): boolean {
  const state = obj(own(meta, "old")) ?? obj(own(meta, "new"));
  return state !== undefined && own(state, "custom") !== true;
}

const ref = (s: PlannedStep): PlannedStep => ({ urn: s.urn, resourceType: s.resourceType, name: s.name, op: s.op });

/** Structural equality with work and depth budgets: cyclic or huge values end as "different", not as a hang or stack overflow. */
function sameValue(a: unknown, b: unknown, budget: { left: number }, depth = 0): boolean {
  if (Object.is(a, b)) return true;
  if (--budget.left < 0 || depth > 100 || typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && sameValue(own(a as Obj, k), own(b as Obj, k), budget, depth + 1));
}

/** Top-level property of a Pulumi property path: `tags.env` → tags, `ingress[0].cidr` → ingress, `["a.b"]` → a.b. */
function topKey(path: string): string {
  const quoted = /^\["((?:[^"\\]|\\.)*)"\]/.exec(path);
  return sanitizeText(quoted ? quoted[1] : path.split(/[.[]/, 1)[0]).slice(0, 100);
}

/** previewRefresh outcome of one refresh step: gone, changed (which top-level keys, never values) or unchanged. */
function driftOf(s: Step): { op: "same" | "update" | "delete"; keys: string[] } {
  const before = obj(own(s.meta, "old"));
  const after = obj(own(s.meta, "new"));
  if (!after) {
    if (before || s.pulumiOp === "delete") return { op: "delete", keys: [] };
    return { op: s.pulumiOp === "update" ? "update" : "same", keys: [] };
  }
  const keys = new Set<string>();
  const was = obj(own(before, "outputs")) ?? {};
  const is = obj(own(after, "outputs")) ?? {};
  const budget = { left: 100_000 };
  for (const k of new Set([...Object.keys(was), ...Object.keys(is)])) {
    if (!sameValue(own(was, k), own(is, k), budget)) keys.add(topKey(k));
  }
  const diffs = own(s.meta, "diffs");
  const paths = [...(Array.isArray(diffs) ? diffs : []), ...Object.keys(obj(own(s.meta, "detailedDiff")) ?? {})];
  for (const p of paths) if (typeof p === "string") keys.add(topKey(p));
  keys.delete("");
  const changed = keys.size > 0 || s.pulumiOp === "update";
  return { op: changed ? "update" : "same", keys: [...keys].sort() };
}

function driftMessage(s: PlannedStep, op: "update" | "delete", keys: readonly string[]): string {
  const what = `${s.resourceType} ${s.name}`;
  if (op === "delete") return sanitizeText(`Drift: ${what} no longer exists in the cloud (deleted outside Pulumi)`);
  const listed = keys.slice(0, 20).join(", ") + (keys.length > 20 ? `, and ${keys.length - 20} more` : "");
  return sanitizeText(`Drift: ${what} changed outside Pulumi${listed ? ` (changed: ${listed})` : ""}`);
}

export function createEventMapper(options: EventMapperOptions): EventMapper {
  const { mode } = options;
  const now = options.now ?? Date.now;
  const expected = Number.isFinite(options.total) ? Math.min(Math.max(0, Math.floor(options.total ?? 0)), Number.MAX_SAFE_INTEGER) : 0;
  const recorded: PlannedStep[] = []; // planned (preview/drift) or applied (apply) steps
  const settled = new Set<string>(); // keys already planned (preview/drift) or completed/failed (apply)
  const started = new Set<string>();
  const startedAt = new Map<string, number>();
  const types = new Map<string, string>();
  const lastError = new Map<string, string>();
  const failed = new Map<string, PlannedStep>();
  let done = 0;
  let changes: Obj | undefined;
  const rootOps = new Set<ResourceOp>();
  let corrupt = false;
  let finished = false;
  const crashed = new Set<string>();
  const replacing = new Set<string>(); // URNs this operation replaces (create-replacement/replace seen)

  const key = (s: PlannedStep) => `${s.urn}\u0000${s.op}`;
  const progress = (): EngineEvent => ({ type: "progress", done, total: Math.max(expected, done) });
  const elapsed = (urn: string): number => {
    const at = startedAt.get(urn);
    startedAt.delete(urn);
    const ms = at === undefined ? 0 : Math.round(now() - at);
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  };
  const failureMessage = (s: PlannedStep) => lastError.get(s.urn) ?? `${s.resourceType} ${s.name}: ${s.op} failed (the engine gave no error message)`;
  /** Steps of the root stack are bookkeeping; they only tell which summary count holds it. */
  const resource = (payload: unknown): Step | undefined => {
    const s = readStep(payload);
    if (!s) return undefined;
    if (s.resourceType === ROOT_TYPE) {
      rootOps.add(s.op);
      return undefined;
    }
    // Default providers (the ambient-credentials provider Pulumi makes for resources that name none):
    // the real CLI reports their steps, and leaves them out of resourceChanges (isInternalStep). Neither
    // a cloud change nor one of the program's resources, so they are not reported as steps either.
    if (DEFAULT_PROVIDER.test(s.resourceType + "::" + s.name)) return undefined;
    // A copy left over from a replacement that an earlier, failed operation began (seen with the real
    // CLI): this operation only deletes it. Its replacement is not part of this run, so it is a delete.
    if (s.pulumiOp === "delete-replaced" && !replacing.has(s.urn) && own(obj(own(s.meta, "old")), "delete") === true) {
      return { ...s, op: "delete" };
    }
    if (REPLACING.has(s.pulumiOp)) replacing.add(s.urn);
    if (options.omitSame && s.op === "same") return undefined;
    // Drift comes from refresh steps of cloud resources. The real CLI also reports, with `--run-program`,
    // the program's registrations (logical `same` steps), and refresh steps of providers and components
    // as `update` (neither is read from the cloud): none of these is drift.
    if (mode === "drift" && (own(s.meta, "logical") === true || s.resourceType.startsWith(PROVIDER_PREFIX) || isComponent(s.meta))) return undefined;
    types.set(s.urn, s.resourceType);
    return s;
  };

  function onPre(payload: unknown): EngineEvent[] {
    const s = resource(payload);
    if (!s || mode === "drift") return [];
    if (mode === "preview") {
      if (settled.has(key(s))) return [];
      settled.add(key(s));
      recorded.push(ref(s));
      return [{ type: "resource.planned", ...ref(s) }];
    }
    if (own(obj(payload), "planning") === true) return [];
    if (!startedAt.has(s.urn)) startedAt.set(s.urn, now());
    if (s.op === "same" || started.has(key(s)) || settled.has(key(s))) return [];
    started.add(key(s));
    return [{ type: "resource.started", ...ref(s) }];
  }

  function onOutputs(payload: unknown): EngineEvent[] {
    const s = resource(payload);
    if (!s || mode === "preview") return [];
    if (mode === "drift") {
      if (settled.has(s.urn)) return [];
      settled.add(s.urn);
      const drift = driftOf(s);
      const step: PlannedStep = { ...ref(s), op: drift.op, ...(drift.op === "update" ? { keys: drift.keys } : {}) };
      recorded.push(step);
      const planned: EngineEvent = { type: "resource.planned", ...ref(s), op: drift.op };
      if (drift.op === "same") return [planned];
      return [planned, { type: "diagnostic", severity: "warning", urn: s.urn, message: driftMessage(s, drift.op, drift.keys) }];
    }
    if (own(obj(payload), "planning") === true) return [];
    if (s.op === "replace" && !REPLACEMENT_MADE.has(s.pulumiOp)) return [];
    if (settled.has(key(s))) return [];
    settled.add(key(s));
    done += 1;
    recorded.push(ref(s));
    return [{ type: "resource.completed", ...ref(s), durationMs: elapsed(s.urn) }, progress()];
  }

  function onFailed(payload: unknown): EngineEvent[] {
    const s = resource(payload);
    if (!s) return [];
    failed.set(s.urn, ref(s));
    if (mode !== "apply") return [];
    if (!settled.has(key(s))) {
      settled.add(key(s));
      done += 1;
    }
    return [{ type: "resource.failed", ...ref(s), durationMs: elapsed(s.urn), message: failureMessage(s) }, progress()];
  }

  function onDiagnostic(payload: unknown): EngineEvent[] {
    const d = obj(payload);
    const severity = SEVERITY.get(own(d, "severity") as "error");
    let message = sanitizeText(own(d, "message"));
    if (!severity || !message || own(d, "ephemeral") === true) return [];
    const plugin = PLUGIN_EXITED.exec(message)?.[1];
    if (plugin) {
      crashed.add(plugin);
      message = `the ${plugin} resource plugin exited in the middle of the operation (it crashed or was killed); the resource operations it had in flight failed`;
    }
    const urn = ident(own(d, "urn"));
    // Program output and "update failed" carry the root stack's URN: forward them, not as a resource.
    if (!urn || typeOf(urn) === ROOT_TYPE) return [{ type: "diagnostic", severity, message }];
    if (severity === "error") {
      lastError.set(urn, message);
      if (!failed.has(urn)) failed.set(urn, { urn, resourceType: types.get(urn) ?? typeOf(urn), name: nameOf(urn), op: "same" });
    }
    return [{ type: "diagnostic", severity, message, urn }];
  }

  function onPolicy(payload: unknown): EngineEvent[] {
    const p = obj(payload);
    const part = (k: string) => sanitizeText(own(p, k)).slice(0, 200) || "unknown";
    const code = `${part("policyPackName")}/${part("policyName")}`;
    const message = sanitizeText(own(p, "message"));
    const urn = ident(own(p, "resourceUrn"));
    const at = urn && typeOf(urn) !== ROOT_TYPE ? { urn } : {};
    if (own(p, "enforcementLevel") === "mandatory") {
      return [{ type: "guardrail.violation", code, message: message || `policy ${code} was violated`, ...at }];
    }
    return message ? [{ type: "diagnostic", severity: "warning", message: sanitizeText(`${code}: ${message}`), ...at }] : [];
  }

  function onSummary(payload: unknown): EngineEvent[] {
    const s = obj(payload);
    changes = obj(own(s, "resourceChanges")) ?? changes;
    if (own(s, "maybeCorrupt") !== true) return [];
    corrupt = true;
    return [{ type: "diagnostic", severity: "error", message: CORRUPT }];
  }

  const none = (): EngineEvent[] => [];
  // Keyed by every payload the SDK types, so a new one fails to compile until it is handled here.
  const handlers: Record<Exclude<keyof PulumiEngineEvent, "sequence" | "timestamp">, (payload: unknown) => EngineEvent[]> = {
    resourcePreEvent: onPre,
    resOutputsEvent: onOutputs,
    resOpFailedEvent: onFailed,
    diagnosticEvent: onDiagnostic,
    policyEvent: onPolicy,
    summaryEvent: onSummary,
    cancelEvent: () => {
      finished = true;
      return [];
    },
    // Raw CLI text and config (the prelude can hold config values) are never forwarded.
    preludeEvent: none,
    stdoutEvent: none,
    startDebuggingEvent: none,
  };

  return {
    map(event) {
      try {
        const e = obj(event);
        for (const [kind, handle] of Object.entries(handlers)) {
          const payload = own(e, kind);
          if (payload !== undefined && payload !== null) return handle(payload);
        }
        return [];
      } catch {
        return [];
      }
    },
    steps: () => recorded.map((s) => ({ ...ref(s), ...(s.keys === undefined ? {} : { keys: s.keys }) })),
    summary() {
      const out: Record<ResourceOp, number> = { create: 0, update: 0, delete: 0, replace: 0, same: 0 };
      if (mode !== "drift" && changes) {
        for (const op of COUNTED) {
          const n = own(changes, op);
          out[op] = typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0;
        }
        // The root stack is counted once for each op it had (a destroy: same, then delete).
        for (const op of rootOps) if (out[op] > 0) out[op] -= 1;
        if (options.omitSame) out.same = 0;
      } else {
        for (const s of recorded) out[s.op] += 1;
      }
      return out;
    },
    failures: () => [...failed.values()].map((s) => ({ urn: s.urn, resourceType: s.resourceType, name: s.name, message: failureMessage(s) })),
    maybeCorrupt: () => corrupt,
    ended: () => finished,
    crashedPlugins: () => [...crashed],
  };
}
