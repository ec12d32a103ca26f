import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Pulumi's mock runtime keeps global state: one process per test file keeps files independent.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
