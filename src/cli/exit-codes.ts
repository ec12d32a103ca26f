/**
 * The exit codes scripts may rely on (issue 18). One table, here and in the README: a script tells "the
 * work failed" (1) from "I called it wrong" (2), "my key is refused" (3), "no such thing" (4), "not in
 * this state / not by me" (5) and "try again later" (6) without parsing text.
 */
export const EXIT = {
  /** The command did what it says; a followed operation succeeded (and, for `verify`, access verified). */
  ok: 0,
  /** A followed operation failed, was cancelled or interrupted; for `verify`, the verification did not pass. */
  failed: 1,
  /** Bad arguments, an unreadable spec file, a request the service finds malformed (400), or bad local configuration. */
  usage: 2,
  /** Credentials refused: 401 or 403. */
  auth: 3,
  /** The provider or operation does not exist (or is not visible to this key): 404. */
  notFound: 4,
  /** Refused in this state: 409 or 422 (e.g. self-approval, a guardrail, a provider that already exists). */
  conflict: 5,
  /** The service cannot be reached, answers 5xx, or asks to slow down (429). */
  unavailable: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Stopped by Ctrl-C while following: the shell's convention (128 + SIGINT); the operation itself goes on. */
export const EXIT_INTERRUPTED = 130;

export function exitForStatus(status: number, code?: string): ExitCode {
  // A self-approval is a 403 too, but the key works: the decision is not this person's (a conflict, not auth).
  if (code === "SELF_APPROVAL") return EXIT.conflict;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409 || status === 422) return EXIT.conflict;
  if (status === 429 || status >= 500) return EXIT.unavailable;
  if (status >= 400) return EXIT.usage;
  return EXIT.ok;
}

export interface ProblemDetail {
  readonly path: string;
  readonly message: string;
}

/** Ends the command with this exit code; `main` prints `error: <message>` and each detail on stderr. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly details: readonly ProblemDetail[] = [],
    /** The HTTP status, when the service answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = "CliError";
  }
}
