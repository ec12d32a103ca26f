import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import spectralCore from "@stoplight/spectral-core";
import owaspRuleset from "@stoplight/spectral-owasp-ruleset";
import * as parsers from "@stoplight/spectral-parsers";
import { oas } from "@stoplight/spectral-rulesets";

/**
 * Spectral over an OpenAPI document, with the repository's ruleset (.spectral.yaml): `spectral:oas` and
 * the OWASP API Security ruleset, and the checked-in overrides, each with its reason (issue 13). The
 * ruleset file is what the Spectral CLI reads too (`spectral lint openapi/openapi.json`); here its
 * `extends` names resolve to the installed packages, so linting needs no network.
 */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const RULESET_FILE = join(REPO, ".spectral.yaml");
/** Where the document lives in the repository: the overrides' `files` point into it. */
export const DOCUMENT_FILE = join(REPO, "openapi", "openapi.json");

const SEVERITY = ["error", "warn", "info", "hint"] as const;

export interface Finding {
  readonly rule: string;
  readonly severity: (typeof SEVERITY)[number];
  readonly path: string;
  /** The path's segments (a path key such as `/v1/providers/{name}` is one segment). */
  readonly segments: readonly string[];
  readonly message: string;
}

interface RulesetFile {
  extends: [string, string][];
  overrides?: { files: string[]; rules: Record<string, string> }[];
}

// Both packages are CommonJS; under ESM their exports sit on `default`.
const { Spectral, Document, Ruleset } = ((spectralCore as unknown as { default?: typeof spectralCore }).default ?? spectralCore) as typeof spectralCore;
const owasp = ((owaspRuleset as unknown as { default?: unknown }).default ?? owaspRuleset) as object;
const { Json, Yaml } = ((parsers as unknown as { default?: typeof parsers }).default ?? parsers) as typeof parsers;
const EXTENDS: Readonly<Record<string, object>> = { "spectral:oas": oas, "@stoplight/spectral-owasp-ruleset": owasp };

export function readRuleset(withOverrides = true): RulesetFile {
  const parsed = Yaml.parse(readFileSync(RULESET_FILE, "utf8")).data as RulesetFile;
  return withOverrides ? parsed : { extends: parsed.extends };
}

/**
 * Every finding of the ruleset on `document` (serialized as given). `withOverrides: false` lints with
 * the bare rulesets: the findings the overrides silence are still visible that way.
 */
export async function lintDocument(document: unknown, options: { withOverrides?: boolean } = {}): Promise<Finding[]> {
  const file = readRuleset(options.withOverrides ?? true);
  const definition = {
    extends: file.extends.map(([name, mode]) => {
      const ruleset = EXTENDS[name];
      if (ruleset === undefined) throw new Error(`.spectral.yaml extends ${name}, which is not installed here`);
      return [ruleset, mode];
    }),
    ...(file.overrides ? { overrides: file.overrides } : {}),
  };
  const spectral = new Spectral();
  spectral.setRuleset(new Ruleset(definition as ConstructorParameters<typeof Ruleset>[0], { source: RULESET_FILE }));
  const results = await spectral.run(new Document(JSON.stringify(document, null, 2), Json, DOCUMENT_FILE));
  return results.map((r) => ({
    rule: String(r.code),
    severity: SEVERITY[r.severity] ?? "hint",
    path: r.path.map(String).join("/"),
    segments: r.path.map(String),
    message: r.message,
  }));
}

/** `{ "error owasp:api4:2023-string-limit": 12, … }`, for a readable failure and for the figure. */
export function countByRule(findings: readonly Finding[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of findings) counts[`${f.severity} ${f.rule}`] = (counts[`${f.severity} ${f.rule}`] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}
