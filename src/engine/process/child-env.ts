/**
 * The explicit environment of an engine child (issue #4): built from configuration, never copied from
 * the service's own environment, so no ambient credential (AWS keys, tokens, a profile in the service
 * user's home) reaches an operation unless the operator passed it through by name.
 */
export interface ChildEnvInput {
  /** Directories the child may use as HOME and TMPDIR (under the data dir): not the service user's. */
  readonly homeDir: string;
  readonly tmpDir: string;
  /** The service's PATH, to find `pulumi` (the only value taken from the service's environment). */
  readonly path: string;
  /** Engine-specific variables (Pulumi home, backend, passphrase, endpoint). */
  readonly engine: Readonly<Record<string, string>>;
  /** ENGINE_ENV_PASSTHROUGH: variables the operator chose to pass, by name. */
  readonly passthrough: Readonly<Record<string, string>>;
}

/** Keys a child may see besides the engine's and the passthrough ones. */
export const BASE_CHILD_ENV_KEYS = ["PATH", "HOME", "TMPDIR", "LANG"] as const;

export function buildChildEnv(input: ChildEnvInput): Record<string, string> {
  return {
    ...input.passthrough,
    ...input.engine,
    PATH: input.path,
    HOME: input.homeDir,
    TMPDIR: input.tmpDir,
    LANG: "C.UTF-8",
  };
}

/** Names whose values are secrets: redacted from anything the child writes before it is logged. */
const SECRET_NAME = /(PASSPHRASE|SECRET|TOKEN|PASSWORD|CREDENTIAL|_KEY)$|^PULUMI_BACKEND_URL$/;

/** The secret values of a child environment (longer than 3 characters, so redaction stays meaningful). */
export function secretValuesOf(env: Readonly<Record<string, string>>): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!SECRET_NAME.test(name) || value.length < 4) continue;
    values.add(value);
    // A backend URL's password can show up on its own (e.g. in a driver's error message).
    try {
      const password = decodeURIComponent(new URL(value).password);
      if (password.length >= 4) values.add(password);
    } catch {
      // not a URL
    }
  }
  return [...values].sort((a, b) => b.length - a.length);
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join("[redacted]");
  return out;
}

/**
 * An operation's secret config (EngineRequest.secretConfig) travels to its child over IPC only. The CLI
 * masks it itself; while the operation runs its values are also added to `into` (what the child writes is
 * redacted with it), and `value`/`text` redact its events, result and failure. `release` takes them out.
 */
export function redactWhileRunning(secretConfig: Readonly<Record<string, string>> | undefined, into: string[]) {
  const values = Object.values(secretConfig ?? {}).filter((v) => v.length >= 4);
  into.push(...values);
  // Inside JSON text a value appears escaped.
  const escaped = values.map((v) => JSON.stringify(v).slice(1, -1));
  return {
    value: <T>(value: T): T => (values.length === 0 ? value : (JSON.parse(redact(JSON.stringify(value), escaped)) as T)),
    text: (text: string): string => redact(text, values),
    release: (): void => {
      for (const v of values) into.splice(into.indexOf(v), 1);
    },
  };
}
