import type { ComponentChildren } from "preact";
import { useEffect } from "preact/hooks";

// Small building blocks every page uses: dates, live regions, page titles, JSON blocks.

export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span>—</span>;
  const date = new Date(value);
  // Local time to read; the exact ISO instant in the markup and on hover.
  return <time dateTime={value} title={value}>{Number.isNaN(date.getTime()) ? value : date.toLocaleString()}</time>;
}

/** Errors: announced at once by screen readers. */
export function Alert({ message }: { message: string | null | undefined }) {
  if (!message) return null;
  return <p role="alert" class="alert">{message}</p>;
}

/**
 * Status messages: the region is always in the page (announced politely when its text changes;
 * a region that appears together with its text is often not announced).
 */
export function Status({ children, class: extra }: { children?: ComponentChildren; class?: string }) {
  return <div role="status" class={extra ? `status ${extra}` : "status"}>{children}</div>;
}

export function Loading({ what }: { what: string }) {
  return <p class="muted">Loading {what}…</p>;
}

export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} — saas-bridge console`;
  }, [title]);
}

/** The page heading; focusable so the app can move focus to it when the page changes. */
export function PageHeading({ children }: { children: ComponentChildren }) {
  return <h1 tabIndex={-1} id="page-heading">{children}</h1>;
}

export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  const empty = value === null || value === undefined || (typeof value === "object" && Object.keys(value).length === 0);
  if (empty) return <p class="muted">None.</p>;
  // A focusable, labelled region: keyboard users can scroll wide JSON (axe: scrollable-region-focusable).
  return <pre class="json" tabIndex={0} role="region" aria-label={label}>{JSON.stringify(value, null, 2)}</pre>;
}

/** Wide tables scroll inside this wrapper on narrow screens instead of widening the page. */
/**
 * A table with its caption and column headers, in a focusable box of its own that scrolls sideways on a
 * narrow screen (so the page never does). `children` are the body's rows.
 */
export function DataTable({ caption, columns, children }: { caption: string; columns: readonly string[]; children: ComponentChildren }) {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={`${caption} table`}>
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => <th key={c} scope="col">{c}</th>)}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

const SUMMARY_WORDS: Record<string, string> = {
  create: "created", update: "updated", delete: "deleted", replace: "replaced", same: "unchanged",
};

/** "3 created, 1 updated, 40 unchanged": counts that are not zero. */
export function summaryText(summary: Record<string, number | undefined> | undefined, words = SUMMARY_WORDS): string {
  if (!summary) return "";
  return Object.entries(summary)
    .filter(([, n]) => n)
    .map(([op, n]) => `${n} ${words[op] ?? op}`)
    .join(", ");
}
