// DEV ONLY: the local stand-ins `npm run dev` needs, in one process: the Neon WebSocket bridge, a local
// S3-compatible store (s3rver) for agent state archives, the LLM upstream stand-in, and the Stripe stand-in
// (its Checkout page has a "Pay (test card)" button; it sends signed webhooks to the local edge), and the
// Browserless stand-in (Debian's Chromium behind Browserless's Session API) when Chromium is installed.
import { existsSync } from "node:fs";
import { mkdirSync } from "node:fs";
import S3rver from "s3rver";
import { startBridge } from "../../test-harness/stand-ins/pg-ws-bridge.ts";
import { startLlmStandIn } from "../../test-harness/stand-ins/llm.ts";
import { startStripeStandIn } from "../../test-harness/stand-ins/stripe.ts";
import { startBrowserlessStandIn } from "../../test-harness/stand-ins/browserless.ts";
import { devPorts } from "../../test-harness/ports.ts";

const run = process.env.OC_RUN ?? "/tmp/openclaw-run";
// scripts/dev.sh moves the whole block with OC_DEV_PORT_BASE (and the edge with OC_DEV_PORT).
const ports = devPorts();
const edge = `http://127.0.0.1:${ports.edge}`;

await startBridge({ port: ports.bridge });
mkdirSync(`${run}/s3`, { recursive: true });
await new S3rver({ port: ports.s3, address: "127.0.0.1", silent: true, directory: `${run}/s3`, configureBuckets: [{ name: "openclaw-state" }] }).run();
await startLlmStandIn({ port: ports.llm });
await startStripeStandIn({
  port: ports.stripe,
  apiKey: "sk_test_dev",
  webhookUrl: `${edge}/api/webhooks/stripe`,
  webhookSecret: "whsec_dev",
  prices: { price_starter: 1200, price_pro: 2500, price_max: 5000 },
});
const chromium = existsSync(process.env.CHROMIUM_PATH ?? "/usr/bin/chromium");
// Agents name the edge host.docker.internal; this browser runs on this machine.
if (chromium) await startBrowserlessStandIn({ port: ports.browserless, token: "dev-browserless", hostRules: "MAP host.docker.internal 127.0.0.1" });
else console.log("[dev-services] no Chromium: the agent browser (Browser Agent Viewer) is off; apt-get install chromium to try it");
console.log(
  `[dev-services] neon bridge ws://127.0.0.1:${ports.bridge} · S3 http://127.0.0.1:${ports.s3} (bucket openclaw-state) · LLM stand-in (DEV ONLY) http://127.0.0.1:${ports.llm}/v1 · Stripe stand-in (DEV ONLY) http://127.0.0.1:${ports.stripe}`,
);
