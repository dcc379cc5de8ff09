import type { TestProject } from "vitest/node";
import { runMigrations } from "../../scripts/migrate.ts";
import { TEST_PORTS, TEST_SECRETS } from "../../test-harness/ports.ts";
import { startBrowserlessStandIn } from "../../test-harness/stand-ins/browserless.ts";
import { startChatStandIn } from "../../test-harness/stand-ins/chat-platforms.ts";
import { startGoogleStandIn } from "../../test-harness/stand-ins/google-oauth.ts";
import { startHostingerStandIn } from "../../test-harness/stand-ins/hostinger.ts";
import { startLlmStandIn } from "../../test-harness/stand-ins/llm.ts";
import { startBridge } from "../../test-harness/stand-ins/pg-ws-bridge.ts";
import { startResendStandIn } from "../../test-harness/stand-ins/resend.ts";
import { startStripeStandIn } from "../../test-harness/stand-ins/stripe.ts";

/** Runs in Node before the workerd tests: real PostgreSQL migrated, the Neon bridge and API stand-ins up. */
export default async function setup(_project: TestProject) {
  if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is not set: run the tests with `npm test` (scripts/test.sh)");
  await runMigrations(process.env.DATABASE_URL);
  const bridge = await startBridge({ port: TEST_PORTS.wsBridge });
  const resend = await startResendStandIn(TEST_PORTS.resend, TEST_SECRETS.resendKey);
  const google = await startGoogleStandIn(TEST_PORTS.google, TEST_SECRETS.googleClientId, TEST_SECRETS.googleClientSecret);
  // Recording: the proxy tests check what was forwarded upstream (GET /_requests).
  const llm = await startLlmStandIn({ port: TEST_PORTS.llm, record: true });
  // No webhook URL: the Worker under test is not on a port, so tests sign and deliver Stripe's events themselves.
  const stripe = await startStripeStandIn({
    port: TEST_PORTS.stripe,
    apiKey: TEST_SECRETS.stripeKey,
    prices: { price_starter: 1200, price_pro: 2500, price_max: 5000 },
  });
  const hostinger = await startHostingerStandIn(TEST_PORTS.hostinger, TEST_SECRETS.hostingerToken);
  const chat = await startChatStandIn(TEST_PORTS.chat);
  const browserless = await startBrowserlessStandIn({ port: TEST_PORTS.browserless, token: TEST_SECRETS.browserlessToken });
  return async () => {
    browserless.close();
    chat.close();
    hostinger.close();
    llm.close();
    stripe.close();
    bridge.close();
    resend.close();
    google.close();
  };
}
