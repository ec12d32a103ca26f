/**
 * The part of Backstage's template rendering that template.yaml uses, so a test can run the form's answers
 * through the step's body the way the scaffolder would, without Backstage.
 *
 * NunjucksWorkflowRunner.render (plugins/scaffolder-backend, backstage/backstage) walks the input with
 * JSON.parse's reviver. A string that is one `${{ expr }}` and nothing else is rendered as
 * `${{ (expr) | dump }}` and JSON-parsed, so the value keeps its type (object, array, number); any string
 * that renders empty becomes undefined, and the reviver drops the key. Other strings render as text.
 *
 * Only plain paths are modelled (`parameters.name`, `steps['onboard'].output.body.links.self`): an
 * expression with filters, operators or calls throws, so a template that starts using them fails its test
 * here instead of being rendered wrongly.
 */
const EXPRESSION = /\$\{\{\s*(.*?)\s*\}\}/g;
const WHOLE = /^\$\{\{\s*(.*?)\s*\}\}$/;
const PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\['[^'\]]+'\])*$/;

function lookup(expression: string, context: Record<string, unknown>): unknown {
  if (!PATH.test(expression)) throw new Error(`render.ts models plain paths only, not \`${expression}\``);
  const keys = [...expression.matchAll(/([A-Za-z_$][\w$]*)|\['([^'\]]+)'\]/g)].map((m) => m[1] ?? m[2] ?? "");
  let value: unknown = context;
  for (const key of keys) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function renderString(value: string, context: Record<string, unknown>): unknown {
  const whole = WHOLE.exec(value);
  if (whole?.[1] !== undefined) {
    // `| dump` of undefined is empty, which the runner turns into undefined.
    const dumped = JSON.stringify(lookup(whole[1], context));
    return dumped === undefined ? undefined : (JSON.parse(dumped) as unknown);
  }
  const text = value.replace(EXPRESSION, (_match, expression: string) => {
    const found = lookup(expression, context);
    return found === undefined || found === null ? "" : String(found);
  });
  return text === "" ? undefined : text;
}

/** A step's input (or the template's output) rendered against `{ parameters, steps }`. */
export function renderStepValue(input: unknown, context: Record<string, unknown>): unknown {
  return JSON.parse(JSON.stringify(input), (_key, value: unknown) => (typeof value === "string" ? renderString(value, context) : value)) as unknown;
}
