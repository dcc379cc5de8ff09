import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { runMigrations } from "../scripts/migrate.ts";
import { startBrowserlessStandIn } from "../test-harness/stand-ins/browserless.ts";
import { startChatStandIn } from "../test-harness/stand-ins/chat-platforms.ts";
import { startHostingerStandIn } from "../test-harness/stand-ins/hostinger.ts";
import { startLlmStandIn } from "../test-harness/stand-ins/llm.ts";
import { startBridge } from "../test-harness/stand-ins/pg-ws-bridge.ts";
import { startStripeStandIn } from "../test-harness/stand-ins/stripe.ts";

import { poll } from "../test-harness/poll.ts";
import { E2E_PORTS } from "../test-harness/ports.ts";

// OC_E2E_PORT_BASE moves the stand-ins' block so that two checkouts can run side by side.
const {
  edge: E2E_PORT,
  bridge: BRIDGE_PORT,
  llm: LLM_PORT,
  stripe: STRIPE_PORT,
  hostinger: HOSTINGER_PORT,
  chat: CHAT_PORT,
  browserless: BROWSERLESS_PORT,
  inspector: INSPECTOR_PORT,
} = E2E_PORTS;

/**
 * The whole edge as it runs in development: `wrangler dev` (Worker + Durable Objects + SvelteKit build) on
 * loopback, backed by the real test PostgreSQL. Mail goes to the dev outbox (no Resend key), which the
 * browser test reads like a developer would.
 */
export default async function setup(project: TestProject) {
  if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is not set: run through `npm test`");
  await runMigrations(process.env.DATABASE_URL);
  const bridge = await startBridge({ port: BRIDGE_PORT });
  const llm = await startLlmStandIn({ port: LLM_PORT, record: true });
  // Stripe's side of a payment: hosted Checkout page, then signed webhooks to the edge, like Stripe.
  const stripe = await startStripeStandIn({
    port: STRIPE_PORT,
    apiKey: "sk_test_e2e",
    webhookUrl: `http://127.0.0.1:${E2E_PORT}/api/webhooks/stripe`,
    webhookSecret: "whsec_e2e",
    prices: { price_starter: 1200, price_pro: 2500, price_max: 5000 },
  });
  const hostinger = await startHostingerStandIn(HOSTINGER_PORT, "hostinger-e2e-token");
  const chat = await startChatStandIn(CHAT_PORT);
  const browserless = await startBrowserlessStandIn({
    port: BROWSERLESS_PORT,
    token: "browserless-e2e-token",
    // Agents name the edge host.docker.internal; the stand-in's browser runs on this host.
    hostRules: "MAP host.docker.internal 127.0.0.1",
  });
  const vars = {
    ENVIRONMENT: "development",
    // The dev outbox, dev credit and the stand-in overrides below exist only with this flag (edge/src/env.ts).
    DEV_MODE: "local",
    APP_URL: `http://localhost:${E2E_PORT}`,
    DATABASE_URL: process.env.DATABASE_URL,
    NEON_LOCAL_WSPROXY: `127.0.0.1:${BRIDGE_PORT}`,
    ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64"),
    OPENAI_API_KEY: "sk-e2e-upstream",
    OPENAI_BASE_URL: `http://127.0.0.1:${LLM_PORT}/v1`,
    // Containers on this machine reach the edge through Docker's host-gateway alias.
    AGENT_EDGE_URL: `http://host.docker.internal:${E2E_PORT}`,
    AGENT_DOMAIN: "agents.example.com",
    STRIPE_SECRET_KEY: "sk_test_e2e",
    STRIPE_WEBHOOK_SECRET: "whsec_e2e",
    STRIPE_API_BASE: `http://127.0.0.1:${STRIPE_PORT}`,
    HOSTINGER_API_TOKEN: "hostinger-e2e-token",
    HOSTINGER_API_BASE: `http://127.0.0.1:${HOSTINGER_PORT}`,
    HOSTINGER_PAYMENT_METHOD_ID: "4242",
    // The fleet simulation loses a node on purpose; waiting the production 3 minutes would only slow it.
    NODE_DOWN_AFTER_MS: "1500",
    TELEGRAM_API_BASE: `http://127.0.0.1:${CHAT_PORT}/telegram`,
    BROWSERLESS_API_KEY: "browserless-e2e-token",
    BROWSERLESS_API_BASE: `http://127.0.0.1:${BROWSERLESS_PORT}`,
  };
  // All interfaces: agent containers reach the edge through their bridge network's gateway address.
  // Another run's edge on this port would answer our health check: refuse rather than test someone else's.
  if (
    await fetch(`http://127.0.0.1:${E2E_PORT}/api/health`).then(
      () => true,
      () => false,
    )
  )
    throw new Error(`port ${E2E_PORT} is taken: another wrangler dev runs (e2e runs take /tmp/oc-heavy.lock)`);
  // The edge's local state (Durable Objects, KV) lives only as long as this run: removed at teardown.
  const persist = mkdtempSync(join(tmpdir(), "oc-e2e-"));
  const args = ["dev", "--port", String(E2E_PORT), "--inspector-port", String(INSPECTOR_PORT), "--ip", "0.0.0.0", "--persist-to", persist];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const wrangler: ChildProcess = spawn("node_modules/.bin/wrangler", args, {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let log = "";
  wrangler.stdout!.on("data", (d) => (log += d));
  wrangler.stderr!.on("data", (d) => (log += d));
  const exited = new Promise<void>((resolve) => (wrangler.exitCode !== null ? resolve() : wrangler.once("exit", () => resolve())));
  const stop = async () => {
    if (wrangler.exitCode === null) process.kill(-wrangler.pid!, "SIGTERM");
    bridge.close();
    llm.close();
    stripe.close();
    hostinger.close();
    chat.close();
    browserless.close();
    // workerd writes its state until it is gone; a stuck one still has its files removed after 10 s.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    try {
      rmSync(persist, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    } catch (e) {
      console.warn(`[e2e] could not remove ${persist}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const healthy = () =>
    fetch(`http://127.0.0.1:${E2E_PORT}/api/health`).then(
      (r) => r.ok,
      () => false,
    );
  const settled = await poll(
    async () => (await healthy()) || wrangler.exitCode !== null,
    (done) => done,
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  if (!settled || wrangler.exitCode !== null) {
    // A failed start must not leave its edge running (it would hold the port for every later run).
    await stop();
    throw new Error(`wrangler dev did not start:\n${log.slice(-3000)}`);
  }
  project.provide("baseUrl", `http://localhost:${E2E_PORT}`);
  project.provide("llmUrl", `http://127.0.0.1:${LLM_PORT}`);
  project.provide("stripeUrl", `http://127.0.0.1:${STRIPE_PORT}`);
  project.provide("hostingerUrl", `http://127.0.0.1:${HOSTINGER_PORT}`);
  project.provide("chatUrl", `http://127.0.0.1:${CHAT_PORT}`);
  return stop;
}

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    llmUrl: string;
    stripeUrl: string;
    hostingerUrl: string;
    chatUrl: string;
  }
}
