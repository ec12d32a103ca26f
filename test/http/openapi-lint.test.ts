import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestService, type TestService } from "../helpers/service.js";
import { createTestIdp, oidcConfig } from "../security/support.js";
import { countByRule, lintDocument, readRuleset, RULESET_FILE, type Finding } from "../support/openapi-lint.js";

/**
 * Issue 13: Spectral (spectral:oas and the OWASP API Security ruleset) finds nothing in the served
 * OpenAPI document, and every override in .spectral.yaml has its reason and still silences something.
 */
let svc: TestService;
let served: unknown;
let bare: Finding[];
beforeAll(async () => {
  svc = await startTestService({ start: false });
  served = (await svc.app.inject({ method: "GET", url: "/openapi.json" })).json();
  bare = await lintDocument(served, { withOverrides: false });
}, 60_000);
afterAll(() => svc.close(2_000));

describe("Spectral on the OpenAPI document", () => {
  it("finds no error and no warning with the repository's ruleset", async () => {
    const findings = await lintDocument(served);
    const shown = findings.slice(0, 20).map((f) => `${f.severity} ${f.rule} at ${f.path}: ${f.message}`);
    expect(countByRule(findings), shown.join("\n")).toEqual({});
    // The rulesets ran: without the overrides, the response schemas' unbounded strings are findings.
    expect(bare.length).toBeGreaterThan(0);
  }, 60_000);

  it("finds nothing either in the document of a deployment with OIDC (a second security scheme)", async () => {
    const oidc = await startTestService({ config: oidcConfig, oidcKeys: (await createTestIdp()).keys, start: false });
    try {
      const document = (await oidc.app.inject({ method: "GET", url: "/openapi.json" })).json() as { components: { securitySchemes: object } };
      expect(Object.keys(document.components.securitySchemes)).toEqual(["bearer", "oidc"]);
      expect(countByRule(await lintDocument(document))).toEqual({});
    } finally {
      await oidc.close(1_000);
    }
  }, 60_000);

  it("gives every override a one-line reason and a finding it silences", () => {
    const text = readFileSync(RULESET_FILE, "utf8").split("\n");
    const overrideLines = text.map((l, i) => [l, i] as const).filter(([l]) => /^\s*- files:/.test(l));
    const { overrides = [] } = readRuleset();
    expect(overrideLines).toHaveLength(overrides.length);
    for (const [, i] of overrideLines) expect(text[i - 1], `line ${i + 1} of .spectral.yaml`).toMatch(/^\s*# reason: \S.{20,}$/);

    const unused: string[] = [];
    for (const override of overrides) {
      for (const file of override.files) {
        const pointer = decodeURIComponent(file.slice(file.indexOf("#") + 2)).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
        const silenced = bare.some((f) => f.rule in override.rules && pointer.every((part, k) => f.segments[k] === part));
        if (!silenced) unused.push(`${file} (${Object.keys(override.rules).join(", ")})`);
      }
    }
    expect(unused, "overrides that silence nothing: remove them").toEqual([]);
  });
});
