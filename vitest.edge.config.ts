import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_PORTS, TEST_SECRETS } from "./test-harness/ports.ts";

/**
 * Edge + Durable Object tests, inside workerd (the production runtime) against real PostgreSQL through the
 * same @neondatabase/serverless code path production uses. Needs `npm run build:app` first (the Worker
 * imports the SvelteKit build) and DATABASE_URL (scripts/test.sh provides both).
 */
const databaseUrl = process.env.DATABASE_URL ?? "postgres://app:app@127.0.0.1:24329/app_test";

export default defineConfig({
  plugins: [
    cloudflareTest({
      main: "./edge/src/worker.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          ENVIRONMENT: "test",
          // Dev routes and stand-in overrides are on only with this flag (edge/src/env.ts).
          DEV_MODE: "local",
          OC_TEST_PORT_BASE: String(TEST_PORTS.wsBridge),
          APP_URL: "http://localhost:8787",
          DATABASE_URL: databaseUrl,
          NEON_LOCAL_WSPROXY: `127.0.0.1:${TEST_PORTS.wsBridge}`,
          // A fixed test key (32 bytes of 0x2a); never a real secret.
          ENCRYPTION_KEY: btoa("*".repeat(32)),
          RESEND_API_KEY: TEST_SECRETS.resendKey,
          RESEND_BASE_URL: `http://127.0.0.1:${TEST_PORTS.resend}`,
          GOOGLE_CLIENT_ID: TEST_SECRETS.googleClientId,
          GOOGLE_CLIENT_SECRET: TEST_SECRETS.googleClientSecret,
          GOOGLE_AUTH_URL: `http://127.0.0.1:${TEST_PORTS.google}/authorize`,
          GOOGLE_TOKEN_URL: `http://127.0.0.1:${TEST_PORTS.google}/token`,
          GOOGLE_USERINFO_URL: `http://127.0.0.1:${TEST_PORTS.google}/userinfo`,
          OPENAI_API_KEY: "sk-test-upstream",
          OPENAI_BASE_URL: `http://127.0.0.1:${TEST_PORTS.llm}/v1`,
          ANTHROPIC_API_KEY: "sk-ant-test-upstream",
          ANTHROPIC_BASE_URL: `http://127.0.0.1:${TEST_PORTS.llm}`,
          // Short enough for the timeout test (its stand-in waits 8 s), long enough that a loaded 2-core machine
          // answering a large request is not taken for one (2 s was: a billing property test got a 504 under load).
          UPSTREAM_TIMEOUT_MS: "5000",
          STRIPE_SECRET_KEY: TEST_SECRETS.stripeKey,
          STRIPE_WEBHOOK_SECRET: TEST_SECRETS.stripeWebhookSecret,
          STRIPE_API_BASE: `http://127.0.0.1:${TEST_PORTS.stripe}`,
          HOSTINGER_API_TOKEN: TEST_SECRETS.hostingerToken,
          HOSTINGER_API_BASE: `http://127.0.0.1:${TEST_PORTS.hostinger}`,
          HOSTINGER_PAYMENT_METHOD_ID: "4242",
          TELEGRAM_API_BASE: `http://127.0.0.1:${TEST_PORTS.chat}/telegram`,
          SLACK_API_BASE: `http://127.0.0.1:${TEST_PORTS.chat}/slack`,
          WHATSAPP_API_BASE: `http://127.0.0.1:${TEST_PORTS.chat}/graph`,
          DISCORD_API_BASE: `http://127.0.0.1:${TEST_PORTS.chat}/discord`,
          BROWSERLESS_API_KEY: TEST_SECRETS.browserlessToken,
          BROWSERLESS_API_BASE: `http://127.0.0.1:${TEST_PORTS.browserless}`,
          // Archive URLs are only signed in these tests, never fetched (node-agent/test runs them against s3rver).
          NODE_S3_ENDPOINT: "http://127.0.0.1:9",
          NODE_S3_BUCKET: "openclaw-state",
          NODE_S3_ACCESS_KEY_ID: "test-node-key",
          NODE_S3_SECRET_ACCESS_KEY: "test-node-secret",
        },
      },
    }),
  ],
  test: {
    include: ["edge/test/**/*.test.ts", "durable-objects/test/**/*.test.ts"],
    globalSetup: ["./edge/test/global-setup.ts"],
    testTimeout: 20_000,
  },
});
