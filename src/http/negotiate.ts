import Negotiator from "negotiator";

/** How a response is delivered: a JSON document, or one of the three live progress streams. */
export type StreamFormat = "sse" | "ndjson" | "text";
export type Representation = "json" | StreamFormat;

const MEDIA: Record<string, Representation> = {
  "application/json": "json",
  "text/event-stream": "sse",
  "application/x-ndjson": "ndjson",
  "text/plain": "text",
};
const OFFERED = Object.keys(MEDIA);

export const CONTENT_TYPE: Record<StreamFormat, string> = {
  sse: "text/event-stream; charset=utf-8",
  ndjson: "application/x-ndjson; charset=utf-8",
  text: "text/plain; charset=utf-8",
};

/** JSON unless the Accept header prefers a stream; undefined when nothing offered is acceptable (406). */
export function negotiate(accept: string | undefined): Representation | undefined {
  // JSON is listed first, so `*/*` and a missing header choose it.
  const chosen = new Negotiator({ headers: { accept: accept ?? "*/*" } }).mediaType(OFFERED);
  return chosen === undefined ? undefined : MEDIA[chosen];
}
