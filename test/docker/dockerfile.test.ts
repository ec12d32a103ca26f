import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/**
 * The Dockerfile cannot be built here (no Docker engine), so its contract is checked by reading it: each
 * check returns its problems, runs against the real file, and is proven able to fail by a mutation of it.
 */
const root = new URL("../../", import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), "utf8");
const installedVersion = (pkg: string): string =>
  (JSON.parse(read(`node_modules/${pkg}/package.json`)) as { version: string }).version;

const SDK_VERSION = installedVersion("@pulumi/pulumi");
const AWS_VERSION = installedVersion("@pulumi/aws");

// ── A small Dockerfile reader: `\` continuations, comments, ARG/ENV scoping and ${VAR} expansion ──

interface Instruction {
  keyword: string;
  /** Arguments with ARG/ENV variables in scope at this line expanded, as the builder would. */
  args: string;
  line: number;
}
interface Stage {
  image: string;
  name: string | undefined;
  body: Instruction[];
  env: Map<string, string>;
  argNames: string[];
}
interface Dockerfile {
  globalArgs: Map<string, string>;
  stages: Stage[];
}

function logicalLines(text: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let buf = "";
  let start = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    // Comments and blank lines are dropped, also inside a continuation (as the builder does).
    if (t === "" || t.startsWith("#")) return;
    if (buf === "") start = i + 1;
    if (t.endsWith("\\")) {
      buf += `${t.slice(0, -1).trim()} `;
      return;
    }
    out.push({ text: buf + t, line: start });
    buf = "";
  });
  if (buf !== "") out.push({ text: buf.trim(), line: start });
  return out;
}

/** Splits on whitespace, honouring "…" and '…' (quotes removed). */
function words(s: string): string[] {
  return [...s.matchAll(/(?:"[^"]*"|'[^']*'|\S)+/g)].map((m) => m[0].replace(/"([^"]*)"|'([^']*)'/g, "$1$2"));
}

const expand = (s: string, scope: ReadonlyMap<string, string>): string =>
  s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => scope.get((a ?? b)!) ?? "");

function keyValues(args: string): [string, string][] {
  const ws = words(args);
  if (ws[0]?.includes("=")) return ws.map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]);
  return ws.length > 0 ? [[ws[0]!, ws.slice(1).join(" ")]] : []; // legacy `ENV KEY value`
}

function parseDockerfile(text: string): Dockerfile {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  let scope = new Map<string, string>();
  for (const { text: lt, line } of logicalLines(text)) {
    const m = /^(\S+)\s*(.*)$/.exec(lt)!;
    const keyword = m[1]!.toUpperCase();
    const raw = m[2]!;
    const stage = stages.at(-1);
    if (keyword === "FROM") {
      const ws = words(expand(raw, globalArgs)).filter((w) => !w.startsWith("--"));
      stages.push({ image: ws[0] ?? "", name: ws[2], body: [], env: new Map(), argNames: [] });
      scope = new Map();
      continue;
    }
    if (keyword === "ARG") {
      const [name, dflt] = raw.split("=", 2) as [string, string | undefined];
      if (!stage) {
        globalArgs.set(name, dflt ?? "");
        continue;
      }
      stage.argNames.push(name);
      scope.set(name, dflt !== undefined ? expand(dflt, scope) : (globalArgs.get(name) ?? ""));
    }
    if (!stage) continue;
    if (keyword === "ENV") {
      // Every pair sees the scope from before the instruction, as in the builder.
      for (const [k, v] of keyValues(raw).map(([k, v]) => [k, expand(v, scope)] as const)) {
        stage.env.set(k, v);
        scope.set(k, v);
      }
    }
    // RUN is expanded by the shell at build time; expanding here gives the same text for ${ARG} uses.
    stage.body.push({ keyword, args: expand(raw, scope), line });
  }
  return { globalArgs, stages };
}

// ── Queries ──

const of = (stage: Stage, keyword: string): Instruction[] => stage.body.filter((i) => i.keyword === keyword);
const runs = (stage: Stage): string[] => of(stage, "RUN").map((i) => i.args);
const finalStage = (df: Dockerfile): Stage => df.stages.at(-1)!;
const stageNamed = (df: Dockerfile, name: string | undefined): Stage | undefined =>
  df.stages.find((s) => s.name !== undefined && s.name === name);

interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
}
function copies(stage: Stage): Copy[] {
  return of(stage, "COPY").map(({ args }) => {
    const ws = words(args);
    const from = ws.find((w) => w.startsWith("--from="))?.slice("--from=".length);
    const paths = ws.filter((w) => !w.startsWith("--"));
    return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? "" };
  });
}

/** .dockerignore semantics, reduced to what an allowlist uses: last matching line wins, `*` matches all. */
function ignored(path: string, dockerignore: string): boolean {
  let result = false;
  for (const line of dockerignore.split("\n").map((l) => l.trim())) {
    if (line === "" || line.startsWith("#")) continue;
    const negated = line.startsWith("!");
    const pattern = (negated ? line.slice(1) : line).replace(/^\.?\//, "").replace(/\/$/, "");
    if (pattern === "*" || path === pattern || path.startsWith(`${pattern}/`)) result = !negated;
  }
  return result;
}

// ── Checks: each returns its problems ──

interface Context {
  dockerignore: string;
}
type Check = (df: Dockerfile, ctx: Context) => string[];
const expectEq = (what: string, actual: unknown, expected: unknown): string[] =>
  actual === expected ? [] : [`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];

const SECRET_NAME = /PASSPHRASE|SECRET|TOKEN|PASSWORD|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY/i;
const PLUGIN_DIR = `resource-aws-v${AWS_VERSION}`;

const CHECKS = {
  multiStage: {
    title: "is multi-stage",
    run: (df) => (df.stages.length >= 2 ? [] : [`${df.stages.length} FROM`]),
  },
  pinnedBases: {
    title: "pins every base image to a tag other than latest",
    run: (df) =>
      df.stages.flatMap(({ image }) => {
        if (stageNamed(df, image)) return [];
        const tag = /^[^@]+:([^/:@]+)(@sha256:[0-9a-f]+)?$/.exec(image)?.[1];
        return tag !== undefined && tag !== "latest" && !image.includes("$") ? [] : [`unpinned base ${image}`];
      }),
  },
  cliVersion: {
    title: "takes the CLI from pulumi/pulumi-base at the installed @pulumi/pulumi version",
    run: (df) => [
      ...expectEq("ARG PULUMI_VERSION", df.globalArgs.get("PULUMI_VERSION"), SDK_VERSION),
      ...(df.stages.some((s) => s.image === `pulumi/pulumi-base:${SDK_VERSION}`) ? [] : ["no pulumi-base stage"]),
    ],
  },
  pluginVersion: {
    title: "installs the AWS plugin at the installed @pulumi/aws version",
    run: (df) => {
      const install = df.stages.flatMap(runs).find((r) => r.includes("plugin install resource aws"));
      const ok = install?.includes("PULUMI_HOME=/opt/pulumi-home") && install.includes(`v${AWS_VERSION}`);
      return [
        ...expectEq("ARG PULUMI_AWS_VERSION", df.globalArgs.get("PULUMI_AWS_VERSION"), AWS_VERSION),
        ...(ok ? [] : [`plugin install: ${install ?? "missing"}`]),
      ];
    },
  },
  cliAndPluginShipped: {
    title: "ships the CLI on PATH and the plugin folder at PULUMI_AWS_PLUGIN_PATH",
    run: (df) => {
      const final = finalStage(df);
      const fromCli = copies(final).filter((c) => stageNamed(df, c.from)?.image.startsWith("pulumi/pulumi-base:"));
      const copied = (src: string, dest: string) => fromCli.some((c) => c.sources.includes(src) && c.dest === dest);
      const pluginPath = `/opt/pulumi/plugins/${PLUGIN_DIR}`;
      return [
        ...(copied("/pulumi/bin", "/pulumi/bin") ? [] : ["/pulumi/bin not copied"]),
        ...(final.env.get("PATH")?.startsWith("/pulumi/bin:") ? [] : [`PATH=${final.env.get("PATH")}`]),
        ...expectEq("PULUMI_AWS_PLUGIN_PATH", final.env.get("PULUMI_AWS_PLUGIN_PATH"), pluginPath),
        ...(copied(`/opt/pulumi-home/plugins/${PLUGIN_DIR}`, pluginPath) ? [] : ["plugin folder not copied"]),
      ];
    },
  },
  runtimeEnv: {
    title: "sets ENGINE=pulumi and the production environment, leaving PULUMI_HOME to the service",
    run: (df) => {
      const env = finalStage(df).env;
      const want = {
        ENGINE: "pulumi",
        MODE: "production",
        HOST: "0.0.0.0",
        PORT: "8080",
        DATA_DIR: "/var/lib/saas-bridge",
        LANDING_ZONE_FILE: "/etc/saas-bridge/landing-zone.json",
        PULUMI_SKIP_UPDATE_CHECK: "true",
      };
      return [
        ...Object.entries(want).flatMap(([k, v]) => expectEq(k, env.get(k), v)),
        ...(env.has("PULUMI_HOME") ? ["PULUMI_HOME set: the service defaults it to $DATA_DIR/pulumi-home"] : []),
      ];
    },
  },
  dataVolume: {
    title: "declares DATA_DIR a volume owned by the runtime user",
    run: (df) => {
      const final = finalStage(df);
      const dataDir = final.env.get("DATA_DIR") ?? "(unset)";
      const volumes = of(final, "VOLUME").flatMap(({ args }) =>
        args.startsWith("[") ? (JSON.parse(args) as string[]) : words(args),
      );
      const owner = of(final, "USER").at(-1)?.args;
      return [
        ...(volumes.includes(dataDir) ? [] : [`no VOLUME ${dataDir}`]),
        ...(runs(final).some((r) => r.includes(`chown ${owner} ${dataDir}`)) ? [] : [`${dataDir} not ${owner}'s`]),
      ];
    },
  },
  nonRoot: {
    title: "runs as a non-root user",
    run: (df) => {
      const user = of(finalStage(df), "USER").at(-1)?.args.split(":")[0];
      return user === undefined || user === "root" || user === "0" ? [`USER ${user ?? "unset"}`] : [];
    },
  },
  healthcheck: {
    title: "has a HEALTHCHECK on /healthz",
    run: (df) => {
      const hc = of(finalStage(df), "HEALTHCHECK").at(-1)?.args ?? "";
      return /\bCMD\b/.test(hc) && hc.includes("/healthz") ? [] : [`HEALTHCHECK ${hc}`];
    },
  },
  tiniAndCmd: {
    title: "runs the compiled service under tini as PID 1",
    run: (df) => {
      const final = finalStage(df);
      const execForm = (kw: string) => JSON.stringify(JSON.parse(of(final, kw).at(-1)?.args ?? "[]"));
      return [
        ...expectEq("ENTRYPOINT", execForm("ENTRYPOINT"), JSON.stringify(["/usr/bin/tini", "--"])),
        ...(runs(final).some((r) => /apt-get install [^&]*\btini\b/.test(r)) ? [] : ["tini not installed"]),
        ...expectEq("CMD", execForm("CMD"), JSON.stringify(["node", "dist/src/main.js"])),
      ];
    },
  },
  aptHygiene: {
    title: "keeps apt layers small",
    run: (df) =>
      df.stages.flatMap(runs).flatMap((r) =>
        !r.includes("apt-get install")
          ? []
          : [/apt-get update/, /apt-get install -y /, /--no-install-recommends/, /rm -rf \/var\/lib\/apt\/lists\/\*/]
              .filter((needle) => !needle.test(r))
              .map((needle) => `apt RUN without ${needle.source}`),
      ),
  },
  prodDeps: {
    title: "installs with npm ci and ships production dependencies and the whole dist/ only",
    run: (df) => {
      const final = finalStage(df);
      const installs = df.stages.flatMap(runs).filter((r) => /\bnpm (install|i|add)\b/.test(r));
      const modules = copies(final).find((c) => c.dest.replace(/\/$/, "").endsWith("node_modules"));
      const prodOnly = runs(stageNamed(df, modules?.from) ?? final).some((r) =>
        /\bnpm (ci|prune)\b[^&]*--omit=dev/.test(r),
      );
      const dist = copies(final).find((c) => c.sources.includes("/app/dist"));
      const built = runs(stageNamed(df, dist?.from) ?? final).some((r) => r.includes("npm run build"));
      return [
        ...installs.map((r) => `RUN ${r}`),
        ...(modules?.from !== undefined && prodOnly ? [] : ["node_modules not from an --omit=dev install"]),
        ...(dist?.from !== undefined && built && /dist\/?$/.test(dist.dest) ? [] : ["dist/ not copied from the build"]),
      ];
    },
  },
  noSecrets: {
    title: "bakes in no secrets (no passphrase, token or key in ARG/ENV)",
    run: (df) =>
      [...df.globalArgs.keys(), ...df.stages.flatMap((s) => [...s.env.keys(), ...s.argNames])]
        .filter((n) => SECRET_NAME.test(n))
        .map((n) => `${n} set in the image`),
  },
  buildContext: {
    title: "lets every context COPY source through .dockerignore, and keeps local state out",
    run: (df, { dockerignore }) => [
      ...df.stages
        .flatMap(copies)
        .filter((c) => c.from === undefined)
        .flatMap((c) => c.sources)
        .filter((src) => ignored(src.replace(/^\.\//, ""), dockerignore) || !existsSync(new URL(src, root)))
        .map((src) => `COPY source ${src} is ignored or missing`),
      ...[".data", ".env", "node_modules", "dist", ".git", "Pulumi.acme.yaml"]
        .filter((p) => !ignored(p, dockerignore))
        .map((p) => `${p} reaches the build context`),
    ],
  },
} satisfies Record<string, { title: string; run: Check }>;

// ── Mutations of the real files, each of which its check must catch ──

type Edit = (text: string) => string;
interface Mutation {
  check: keyof typeof CHECKS;
  what: string;
  dockerfile?: Edit;
  dockerignore?: Edit;
}
const sub =
  (from: string | RegExp, to: string): Edit =>
  (t) =>
    t.replace(from, to);

const MUTATIONS: Mutation[] = [
  { check: "multiStage", what: "only the runtime stage", dockerfile: (t) => t.slice(t.lastIndexOf("\nFROM ")) },
  { check: "pinnedBases", what: "node:latest", dockerfile: sub("node:20.20-bookworm-slim", "node:latest") },
  { check: "pinnedBases", what: "an untagged image", dockerfile: sub("FROM node:20.20-bookworm-slim", "FROM node") },
  { check: "cliVersion", what: "a CLI older than the SDK", dockerfile: sub(`PULUMI_VERSION=${SDK_VERSION}`, "PULUMI_VERSION=3.200.0") },
  { check: "pluginVersion", what: "an older plugin", dockerfile: sub(`PULUMI_AWS_VERSION=${AWS_VERSION}`, "PULUMI_AWS_VERSION=7.0.0") },
  { check: "cliAndPluginShipped", what: "the CLI off PATH", dockerfile: sub("PATH=/pulumi/bin:$PATH", "PATH=$PATH") },
  { check: "cliAndPluginShipped", what: "a plugin path drift", dockerfile: sub(/PULUMI_AWS_PLUGIN_PATH=\S+/, "PULUMI_AWS_PLUGIN_PATH=/opt/aws") },
  { check: "runtimeEnv", what: "ENGINE=simulated", dockerfile: sub(/^(\s+)ENGINE=pulumi/m, "$1ENGINE=simulated") },
  { check: "runtimeEnv", what: "PULUMI_HOME in the image", dockerfile: sub(/^(\s+)ENGINE=pulumi/m, "$1ENGINE=pulumi PULUMI_HOME=/x") },
  { check: "dataVolume", what: "no VOLUME", dockerfile: sub(/^VOLUME .*$/m, "") },
  { check: "dataVolume", what: "a data dir owned by root", dockerfile: sub(/ && chown \S+ \/var\/lib\/saas-bridge/, "") },
  { check: "nonRoot", what: "USER root", dockerfile: sub(/^USER .*$/m, "USER root") },
  { check: "nonRoot", what: "no USER", dockerfile: sub(/^USER .*$/m, "") },
  { check: "healthcheck", what: "/health", dockerfile: sub("/healthz", "/health") },
  { check: "tiniAndCmd", what: "no ENTRYPOINT", dockerfile: sub(/^ENTRYPOINT .*$/m, "") },
  { check: "aptHygiene", what: "apt lists kept", dockerfile: sub("rm -rf /var/lib/apt/lists/*", "true") },
  { check: "prodDeps", what: "npm install", dockerfile: sub("RUN npm ci --ignore-scripts", "RUN npm install --ignore-scripts") },
  { check: "prodDeps", what: "dev dependencies shipped", dockerfile: (t) => t.replaceAll(" --omit=dev", "") },
  { check: "noSecrets", what: "an ENV passphrase", dockerfile: sub("ENV PATH=", "ENV PULUMI_CONFIG_PASSPHRASE=hunter2 PATH=") },
  { check: "noSecrets", what: "an ARG passphrase", dockerfile: sub("ARG PULUMI_VERSION=", "ARG PULUMI_CONFIG_PASSPHRASE=x\nARG PULUMI_VERSION=") },
  { check: "buildContext", what: "programs/ ignored", dockerignore: sub("!programs\n", "") },
  { check: "buildContext", what: "no allowlist", dockerignore: sub(/^\*$/m, "node_modules") },
];

const DOCKERFILE = read("Dockerfile");
const DOCKERIGNORE = read(".dockerignore");
const real = parseDockerfile(DOCKERFILE);

describe("Dockerfile", () => {
  it("is read as the stages it declares, with continuations joined", () => {
    expect(real.stages.map((s) => s.name)).toEqual(["pulumi", "deps", "build", "runtime"]);
    expect(of(finalStage(real), "HEALTHCHECK")[0]?.args).toMatch(/^--interval=\S+ .* CMD \["node", "-e", /);
  });

  it.each(Object.values(CHECKS))("$title", ({ run }) => {
    expect(run(real, { dockerignore: DOCKERIGNORE })).toEqual([]);
  });

  it.each(MUTATIONS)("$check catches $what", ({ check, dockerfile, dockerignore }) => {
    const df = dockerfile?.(DOCKERFILE) ?? DOCKERFILE;
    const di = dockerignore?.(DOCKERIGNORE) ?? DOCKERIGNORE;
    expect(df !== DOCKERFILE || di !== DOCKERIGNORE, "the mutation must change a file").toBe(true);
    expect(CHECKS[check].run(parseDockerfile(df), { dockerignore: di })).not.toEqual([]);
  });
});
