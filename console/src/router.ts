import { useEffect, useState } from "preact/hooks";

// Hash routes: the service serves one index.html at /console/, so the path after # is the page.

export type Route =
  | { page: "signin" }
  | { page: "providers" }
  | { page: "provider"; name: string; operationId?: string }
  | { page: "approvals" }
  | { page: "audit" };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(safeDecode);
  const [first, name, sub, id] = parts;
  if (first === "signin") return { page: "signin" };
  if (first === "approvals") return { page: "approvals" };
  if (first === "audit") return { page: "audit" };
  if (first === "providers" && name) return { page: "provider", name, operationId: sub === "operations" ? id : undefined };
  return { page: "providers" };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}

export function navigate(hash: string): void {
  if (location.hash !== hash) location.hash = hash;
}

export const providerHref = (name: string) => `#/providers/${encodeURIComponent(name)}`;

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
