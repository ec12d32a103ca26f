import { chmod, mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";

/**
 * TEST DOUBLE — writes the stand-in `aws` plugin (./provider.ts) as a plugin folder: an executable
 * `pulumi-resource-aws` that runs the provider under Node. Tests hand the folder to the service as
 * PULUMI_AWS_PLUGIN_PATH, so the service's own offline install (`pulumi plugin install resource aws
 * v<@pulumi/aws> --file <folder>`) puts it into the test's PULUMI_HOME.
 *
 * The engine starts one plugin process per provider resource, several per operation, so the provider
 * is bundled once into the folder (our TypeScript in one file; packages stay in node_modules, imported
 * by absolute path): it starts in ~0.24 s, against ~0.47 s under tsx's on-the-fly transform.
 */
const PROVIDER = fileURLToPath(new URL("./provider.ts", import.meta.url));
const requireFromProvider = createRequire(PROVIDER);

/** Packages resolve from the provider's own folder, so the bundle runs from anywhere (a temp folder). */
const packagesByAbsolutePath: Plugin = {
  name: "packages-by-absolute-path",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith("node:") ? { path: args.path, external: true } : { path: requireFromProvider.resolve(args.path), external: true },
    );
  },
};

export async function writeFakeAwsPlugin(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const bundle = join(dir, "provider.mjs");
  await build({
    entryPoints: [PROVIDER],
    outfile: bundle,
    bundle: true,
    platform: "node",
    format: "esm",
    target: `node${process.versions.node.split(".")[0]}`,
    // The provider finds @pulumi/pulumi's own gRPC module from its source location, not the bundle's.
    define: { "import.meta.url": JSON.stringify(pathToFileURL(PROVIDER).href) },
    plugins: [packagesByAbsolutePath],
    logLevel: "error",
  });
  const bin = join(dir, "pulumi-resource-aws");
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  await writeFile(bin, `#!/bin/sh\n# TEST DOUBLE: the stand-in AWS provider of saas-bridge's tests (no AWS).\nexec ${quote(process.execPath)} ${quote(bundle)} "$@"\n`);
  await chmod(bin, 0o755);
  return dir;
}
