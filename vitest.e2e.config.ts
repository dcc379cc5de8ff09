import { defineConfig } from "vitest/config";

/** Browser journeys against `wrangler dev` (started by e2e/global-setup.ts) in Debian's Chromium. */
export default defineConfig({
  test: {
    include: ["e2e/**/*.test.ts"],
    globalSetup: ["./e2e/global-setup.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 90_000,
    fileParallelism: false,
  },
});
