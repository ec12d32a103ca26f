import { chmod, mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * TEST DOUBLE — writes the stand-in `aws` plugin (./provider.ts) as a plugin folder: an executable
 * `pulumi-resource-aws` that runs the provider under Node with tsx. Tests hand the folder to the
 * service as PULUMI_AWS_PLUGIN_PATH, so the service's own offline install (`pulumi plugin install
 * resource aws v<@pulumi/aws> --file <folder>`) puts it into the test's PULUMI_HOME.
 */
const require = createRequire(import.meta.url);
const PROVIDER = fileURLToPath(new URL("./provider.ts", import.meta.url));
const TSX = pathToFileURL(require.resolve("tsx")).href;

export async function writeFakeAwsPlugin(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const bin = join(dir, "pulumi-resource-aws");
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  await writeFile(bin, `#!/bin/sh\n# TEST DOUBLE: the stand-in AWS provider of saas-bridge's tests (no AWS).\nexec ${quote(process.execPath)} --import ${quote(TSX)} ${quote(PROVIDER)} "$@"\n`);
  await chmod(bin, 0o755);
  return dir;
}
