import type { TestProject } from "vitest/node";
// @ts-expect-error plain ESM script without types
import { startBridge } from "../../scripts/pg-ws-bridge.mjs";
// @ts-expect-error plain ESM script without types
import { runMigrations } from "../../scripts/migrate.mjs";
// @ts-expect-error plain ESM script without types
import { startLlmStandIn } from "../../scripts/dev/llm-stand-in.mjs";
import { TEST_PORTS, TEST_SECRETS } from "./ports";
import { startGoogleStandIn } from "./stand-ins/google-oauth";
import { startResendStandIn } from "./stand-ins/resend";

/** Runs in Node before the workerd tests: real PostgreSQL migrated, the Neon bridge and API stand-ins up. */
export default async function setup(_project: TestProject) {
  if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is not set: run the tests with `npm test` (scripts/test.sh)");
  await runMigrations(process.env.DATABASE_URL);
  const bridge = await startBridge({ port: TEST_PORTS.wsBridge });
  const resend = await startResendStandIn(TEST_PORTS.resend, TEST_SECRETS.resendKey);
  const google = await startGoogleStandIn(TEST_PORTS.google, TEST_SECRETS.googleClientId, TEST_SECRETS.googleClientSecret);
  const llm = await startLlmStandIn({ port: TEST_PORTS.llm });
  return async () => {
    llm.close();
    bridge.close();
    resend.close();
    google.close();
  };
}
