import { defineConfig } from "vitest/config";

/** Node-side tests: the node agent (against the real Docker engine) and scripts. */
export default defineConfig({
  test: { include: ["node-agent/test/**/*.test.ts", "scripts/test/**/*.test.ts"], environment: "node", testTimeout: 60_000 },
});
