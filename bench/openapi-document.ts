import { readFileSync } from "node:fs";
import { startTestService } from "../test/helpers/service.js";
import { countByRule, lintDocument } from "../test/support/openapi-lint.js";
import type { Figure } from "./report.js";

/**
 * Figure `openapi` (issue 13): the OpenAPI document's size and its Spectral findings (spectral:oas and
 * the OWASP API Security ruleset), now against the document as it was before the issue (served by commit
 * 1265a55, kept in bench/baselines/). Both are linted in this run with the same rulesets; the document of
 * today also with the repository's overrides (.spectral.yaml), the count `npm test` holds at zero.
 */
const BEFORE = new URL("./baselines/openapi-before-issue-13.json", import.meta.url);

export async function measureOpenApiDocument(): Promise<Figure> {
  const beforeText = readFileSync(BEFORE, "utf8");
  const svc = await startTestService({ start: false, checkContract: false });
  try {
    const nowText = (await svc.app.inject({ method: "GET", url: "/openapi.json" })).body;
    const before = await lintDocument(JSON.parse(beforeText), { withOverrides: false });
    const bare = await lintDocument(JSON.parse(nowText), { withOverrides: false });
    const kept = await lintDocument(JSON.parse(nowText));
    const errors = (f: readonly { severity: string }[]) => f.filter((x) => x.severity === "error").length;
    const warnings = (f: readonly { severity: string }[]) => f.filter((x) => x.severity === "warn").length;
    return {
      id: "openapi",
      title: "OpenAPI document: size, and Spectral findings (spectral:oas + OWASP) before and after issue 13",
      ratio: Math.round((Buffer.byteLength(nowText) / Buffer.byteLength(beforeText)) * 1000) / 1000,
      ratioMeaning: "bytes of the served document ÷ bytes of the document before issue 13 (both as served: compact JSON)",
      target: "0 Spectral errors and 0 warnings with the repository's ruleset",
      pass: kept.length === 0,
      subject: {
        bytes: Buffer.byteLength(nowText),
        findingsWithOverrides: kept.length,
        findingsWithoutOverrides: bare.length,
        errorsWithoutOverrides: errors(bare),
        warningsWithoutOverrides: warnings(bare),
      },
      baseline: { bytes: Buffer.byteLength(beforeText), findings: before.length, errors: errors(before), warnings: warnings(before) },
      diagnostics: { before: countByRule(before), afterWithoutOverrides: countByRule(bare) },
      notes: [
        "before: the document commit 1265a55 served (OpenAPI 3.0, everything inline); after: this tree's, OpenAPI 3.1 with components",
        "findings without overrides are what .spectral.yaml silences, each override with its reason",
      ],
    };
  } finally {
    await svc.close(1_000);
  }
}
