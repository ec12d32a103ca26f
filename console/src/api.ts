import { getCredential, signOut } from "./auth";

// The fetch wrapper for the saas-bridge API on this origin: bearer credential, JSON in and out,
// RFC 9457 problem details turned into an ApiError whose message is the problem's `detail`.

export const SESSION_ENDED = "Your session has ended; sign in again.";

export interface FieldError {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly errors: FieldError[] = [],
  ) {
    super(detail || title || `The service answered ${status}.`);
  }
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;
  /** Sign-in checks a key before it is kept: a 401 then means "refused", not "session ended". */
  credential?: string;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const credential = options.credential ?? getCredential();
  const headers: Record<string, string> = { accept: "application/json" };
  if (credential) headers.authorization = `Bearer ${credential}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";

  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "NETWORK", "Network error", "The service could not be reached. Check your connection and try again.");
  }

  if (response.ok) {
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
  const error = await problemFrom(response);
  if (response.status === 401 && options.credential === undefined && credential) signOut(SESSION_ENDED);
  throw error;
}

async function problemFrom(response: Response): Promise<ApiError> {
  const type = response.headers.get("content-type") ?? "";
  if (type.includes("json")) {
    try {
      const p = (await response.json()) as Partial<{ code: string; title: string; detail: string; errors: FieldError[] }>;
      return new ApiError(response.status, p.code ?? "", p.title ?? response.statusText, p.detail ?? "", p.errors ?? []);
    } catch {
      // fall through: a body that is not the JSON it claims to be
    }
  }
  return new ApiError(response.status, "", response.statusText, `The service answered ${response.status} ${response.statusText}.`);
}

/** The message to show for a failure: the problem's detail and, for validation, each field. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    return fields ? `${error.message} (${fields})` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function isStatus(error: unknown, status: number): boolean {
  return error instanceof ApiError && error.status === status;
}

/** A path segment: provider names and ids go into URLs encoded. */
export const seg = encodeURIComponent;
