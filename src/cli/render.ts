// The service's own event union (a type only: nothing of the server is loaded).
import type { OperationEvent } from "../operations/events.js";
import { clean, createTextFormatter, shortType } from "../http/text-progress.js";

/**
 * How a followed operation is shown. On a terminal: a progress bar rewritten in place (done/total from
 * `progress` events and the resource in flight), with the notable lines (plan, diagnostics, failures,
 * verification, the end) printed above it. Not a terminal: the same lines as the service's text/plain
 * stream, one per event, because a log file or a pipe cannot be rewritten. `--json`: the events as NDJSON.
 */
export type RenderMode = "tty" | "plain" | "json";

export interface Sink {
  write(text: string): void;
  /** The terminal's width; a bar longer than it would wrap and could no longer be rewritten. */
  readonly columns?: number | undefined;
}

export interface EventRenderer {
  event(e: OperationEvent): void;
  /** Leaves the terminal on a fresh line (also when following stopped early). */
  end(): void;
}

export interface RenderOptions {
  readonly mode: RenderMode;
  /** First line of the text views: intent, provider, operation, engine. */
  readonly header: string;
  readonly out: Sink;
  readonly color: boolean;
}

export function createRenderer(options: RenderOptions): EventRenderer {
  if (options.mode === "json") return { event: (e) => options.out.write(`${JSON.stringify(e)}\n`), end: () => undefined };
  const format = createTextFormatter(options.header);
  if (options.mode === "plain") return { event: (e) => options.out.write(paint(format(e), options.color)), end: () => undefined };
  return createBar(options, format);
}

const CLEAR_LINE = "\r\u001b[2K";
const VERB = { create: "creating", update: "updating", delete: "deleting", replace: "replacing", same: "checking" } as const;

function createBar(options: RenderOptions, format: (e: OperationEvent) => string): EventRenderer {
  const { out, color } = options;
  let done = 0;
  let total = 0;
  let current = "";
  let barShown = false;
  let lastBar = "";

  const bar = (): string => {
    const columns = Math.max(out.columns ?? 80, 20);
    const width = Math.min(30, Math.max(10, columns - 50));
    const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
    const counts = `${String(done).padStart(String(total).length)}/${total}`;
    const text = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${counts} ${current}`;
    return text.length > columns - 1 ? text.slice(0, columns - 1) : text;
  };

  return {
    event(e) {
      const lines = format(e);
      switch (e.type) {
        case "progress":
          total = e.total;
          done = Math.max(done, e.done);
          break;
        case "resource.started":
          current = `${VERB[e.op]} ${shortType(clean(e.resourceType))} ${clean(e.name)}`;
          break;
        case "operation.resuming":
          done = 0;
          current = "";
          break;
      }
      // The bar says what each completed resource line would: on a terminal they are left out.
      const shown = e.type === "resource.completed" ? "" : lines;
      const finished = e.type.startsWith("operation.") && e.type !== "operation.queued" && e.type !== "operation.started" && e.type !== "operation.resuming";
      const next = !finished && total > 0 ? bar() : "";
      // Most events change nothing the bar shows (a resource's start and its completion's progress come apart).
      if (shown === "" && barShown && next === lastBar) return;
      let text = barShown ? CLEAR_LINE : "";
      text += paint(shown, color) + next;
      barShown = next !== "";
      lastBar = next;
      if (text !== "") out.write(text);
    },
    end() {
      if (barShown) out.write("\n");
      barShown = false;
    },
  };
}

const GREEN = "\u001b[32m";
const RED = "\u001b[31m";
const YELLOW = "\u001b[33m";
const RESET = "\u001b[39m";

/** Colours the lines whose meaning a glance should catch; nothing with NO_COLOR or off a terminal. */
function paint(lines: string, color: boolean): string {
  if (!color || lines === "") return lines;
  return lines.replace(/^.*$/gm, (line) => {
    if (/^(succeeded|approved|verification passed)/.test(line)) return `${GREEN}${line}${RESET}`;
    if (/^(failed|cancelled|interrupted|CRITICAL|error:|verification failed)|^\s+FAIL|\] ! /.test(line)) return `${RED}${line}${RESET}`;
    if (/^(warning:|awaiting approval|guardrail|verification incomplete)/.test(line)) return `${YELLOW}${line}${RESET}`;
    return line;
  });
}
