// Run in a child process by mock-cloud.test.ts: Pulumi deliberately leaves failed resource operations
// as unhandled rejections, which vitest would report against the test file itself.
import * as pulumi from "@pulumi/pulumi";
import { createMockCloud } from "../../../programs/mock-cloud.js";
import { evaluateProgram } from "../../../programs/evaluate-program.js";

class Unmocked extends pulumi.CustomResource {
  constructor(name: string) {
    super("random:index/randomId:RandomId", name, {});
  }
}

try {
  await evaluateProgram(
    async () => {
      new Unmocked("unmocked");
      return {};
    },
    { project: "p", stack: "s", mocks: createMockCloud() },
  );
  process.stdout.write("RESOLVED\n");
} catch (error) {
  process.stdout.write(`REJECTED ${error instanceof Error ? error.message : String(error)}\n`);
}
process.stdout.write("ALIVE\n");
