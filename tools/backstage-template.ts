import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Document } from "yaml";
import { z } from "zod";
import { loadLandingZone } from "../src/onboarding/landing-zone.js";
import { buildProviderSpecSchema, SPEC_API_VERSION } from "../src/onboarding/spec.js";

/**
 * Writes the Backstage scaffolder template (issue 18, part 3) that onboards a provider from a form:
 *
 *   npm run backstage:template [-- --public-url https://bridge.example.com]
 *
 * The form is the ProviderSpec's own JSON Schema (z.toJSONSchema of buildProviderSpecSchema for
 * examples/landing-zone.json, the landing zone tools/openapi.ts documents too), cut into pages by top-level
 * field, so patterns, enums, limits, `required` and defaults are the service's and cannot drift from it:
 * test/backstage/template.test.ts fails when the committed file differs from this output. Only titles,
 * help texts and widget hints are added here, and only where the schema carries none.
 *
 * The step posts the answers with `http:backstage:request` (@roadiehq/scaffolder-backend-module-http-request)
 * through the Backstage proxy endpoint `/proxy/saas-bridge`, which adds the saas-bridge credential from
 * app-config: the template holds no secret (examples/backstage/README.md).
 */
export const LANDING_ZONE_FILE = "examples/landing-zone.json";
export const TEMPLATE_FILE = "examples/backstage/template.yaml";
/** The example deployment's public URL: the console and API links of the template's output point there. */
export const DEFAULT_PUBLIC_URL = "https://saas-bridge.example.com";
/** The proxy endpoint examples/backstage/app-config.example.yaml declares (the action prefixes the plugin id). */
export const PROXY_PATH = "/proxy/saas-bridge";
export const STEP_ID = "onboard";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[] };

/**
 * Presentation only: what rjsf shows. A schema's own title or description wins over these; `optionTitles`
 * name the branches of an `anyOf` (rjsf would offer "Option 1", "Option 2").
 */
type FieldUi = { title: string; description?: string; optionTitles?: readonly string[] } & Record<`ui:${string}`, unknown>;

interface Page {
  title: string;
  description: string;
  fields: Record<string, FieldUi>;
}

/**
 * Top-level spec fields by form page. `apiVersion` is a constant the step sets. `inbound` (the NLB the
 * provider reaches back through) is left out on purpose: rjsf fills an optional object with `{}` and then
 * demands its required members, so it could not be skipped; it is usually added by a later update, once
 * the provider has created its endpoints (README: "Use it", PUT /v1/providers/<name>).
 */
export const PAGES: readonly Page[] = [
  {
    title: "Provider and owner",
    description: "Who the provider is, which team answers for it, and where it runs.",
    fields: {
      name: { title: "Name", description: "Stack and resource name prefix: lowercase letters, digits and dashes.", "ui:autofocus": true },
      displayName: { title: "Display name" },
      owner: { title: "Owner", description: "The team that answers for this provider; saas-bridge accepts it only from a caller in this team." },
      dataClassification: { title: "Data classification" },
      region: { title: "Region", description: "One of the landing zone's regions." },
      expiresAt: { title: "Expires at", description: "Optional end of the contract (RFC 3339); warnings are sent before it." },
    },
  },
  {
    title: "Accounts",
    description: "The bridge account in your organization and the provider's own AWS account.",
    fields: {
      bridgeAccount: {
        title: "Bridge account",
        description: "An existing account by id, or a new one created through Organizations.",
        optionTitles: ["Existing account", "New account"],
      },
      provider: { title: "Provider's AWS account", description: "The account and IAM principals the key grants and the endpoint service belong to." },
    },
  },
  {
    title: "Network",
    description: "Outbound PrivateLink to the provider's endpoint service, and the firewall's domain allow-list.",
    fields: {
      outbound: { title: "Outbound" },
      firewall: { title: "Firewall", description: "Domains allowed on ports matched by domain; empty when no port is." },
    },
  },
  {
    title: "Encryption",
    description: "The customer-managed KMS key the provider uses (BYOK).",
    fields: {
      kms: { title: "KMS key", description: "Operations granted to the provider's principals, and the encryption context they must present." },
    },
  },
];

/** The ProviderSpec as JSON Schema (draft-07, what rjsf validates with), as a client sends it. */
export async function providerSpecJsonSchema(): Promise<JsonSchema> {
  const landingZone = await loadLandingZone(`${ROOT}${LANDING_ZONE_FILE}`);
  return z.toJSONSchema(buildProviderSpecSchema(landingZone), { io: "input", target: "draft-7" }) as JsonSchema;
}

function titledOptions(field: string, schema: JsonSchema, titles: readonly string[]): JsonSchema[] {
  const options = schema.anyOf;
  if (!Array.isArray(options) || options.length !== titles.length) throw new Error(`${field}: ${titles.length} option titles for its anyOf`);
  return options.map((option: JsonSchema, i) => ({ title: titles[i], ...option }));
}

function formPage(spec: JsonSchema, page: Page): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [field, ui] of Object.entries(page.fields)) {
    const schema = spec.properties?.[field];
    if (schema === undefined) throw new Error(`form field ${field} is not a ProviderSpec field`);
    const { title, description, optionTitles, ...hints } = ui;
    properties[field] = {
      title,
      ...(description === undefined ? {} : { description }),
      ...schema,
      ...(optionTitles === undefined ? {} : { anyOf: titledOptions(field, schema, optionTitles) }),
      ...hints,
    };
  }
  const required = (spec.required ?? []).filter((field) => field in properties);
  return { title: page.title, description: page.description, required, properties };
}

/** The request body: every spec field from the answer of the same name, except the constant apiVersion. */
function requestBody(spec: JsonSchema): Record<string, string> {
  const body: Record<string, string> = { apiVersion: SPEC_API_VERSION };
  const inForm = new Set(PAGES.flatMap((page) => Object.keys(page.fields)));
  for (const field of Object.keys(spec.properties ?? {})) {
    // A whole-value expression keeps the answer's type (object, array, number), and an unanswered
    // optional field renders empty and is dropped (NunjucksWorkflowRunner.render in Backstage).
    if (inForm.has(field)) body[field] = `\${{ parameters.${field} }}`;
  }
  return body;
}

/** The template as an object (what template.yaml holds). */
export async function buildTemplate(publicUrl: string = DEFAULT_PUBLIC_URL): Promise<Record<string, unknown>> {
  const base = publicUrl.replace(/\/+$/, "");
  const spec = await providerSpecJsonSchema();
  const response = `steps['${STEP_ID}'].output.body`;
  return {
    apiVersion: "scaffolder.backstage.io/v1beta3",
    kind: "Template",
    metadata: {
      name: "saas-bridge-onboard-provider",
      title: "Onboard a SaaS provider",
      description:
        "Connects a third-party SaaS provider to the AWS landing zone through saas-bridge: bridge account, PrivateLink, firewall rules and a BYOK KMS key.",
      tags: ["saas-bridge", "aws", "privatelink", "kms"],
    },
    spec: {
      owner: "group:default/platform-team",
      type: "saas-provider",
      parameters: PAGES.map((page) => formPage(spec, page)),
      steps: [
        {
          id: STEP_ID,
          name: "Request onboarding from saas-bridge",
          action: "http:backstage:request",
          input: {
            method: "POST",
            path: `${PROXY_PATH}/v1/providers`,
            // The action turns an object body into JSON only when the template itself sets this header.
            headers: { "content-type": "application/json", "idempotency-key": "backstage-${{ context.task.id }}" },
            body: requestBody(spec),
          },
        },
      ],
      output: {
        links: [
          { title: "Provider in the saas-bridge console", url: `${base}/console/providers/\${{ parameters.name }}` },
          { title: "Provider in the API", url: `${base}/v1/providers/\${{ parameters.name }}` },
          { title: "Onboarding operation", url: `${base}\${{ ${response}.links.self }}` },
        ],
        text: [
          {
            title: "Onboarding queued",
            content: `Operation \`\${{ ${response}.operation.id }}\` is \`\${{ ${response}.operation.status }}\`; the console page shows its live progress.`,
          },
        ],
      },
    },
  };
}

/** template.yaml's text: a generated-file header, block style, no line folding (stable diffs). */
export function templateText(template: Record<string, unknown>): string {
  const doc = new Document(template);
  doc.commentBefore = ` Generated by \`npm run backstage:template\` (tools/backstage-template.ts) from the ProviderSpec schema\n for ${LANDING_ZONE_FILE}. Do not edit: change the schema or the generator, then regenerate.`;
  return doc.toString({ lineWidth: 0 });
}

function publicUrlArgument(argv: readonly string[]): string {
  const at = argv.indexOf("--public-url");
  if (at === -1) return DEFAULT_PUBLIC_URL;
  const value = argv[at + 1];
  if (value === undefined || !/^https?:\/\/[^\s]+$/.test(value)) throw new Error("--public-url needs an http(s) URL");
  return value;
}

async function main(): Promise<void> {
  const text = templateText(await buildTemplate(publicUrlArgument(process.argv.slice(2))));
  const path = `${ROOT}${TEMPLATE_FILE}`;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  process.stdout.write(`backstage-template: wrote ${TEMPLATE_FILE} (${text.length} characters)\n`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`backstage-template: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
