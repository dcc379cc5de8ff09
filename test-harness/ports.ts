/**
 * Every loopback port the suites and `npm run dev` use, in one table. Each block moves as a whole with its
 * base variable, so two checkouts can run side by side. Inside workerd the edge suite's base arrives as a
 * binding (nodejs_compat puts bindings on process.env), so the Worker's tests read the same numbers.
 *
 * Every fixed port sits below Linux's ephemeral range (32768…60999): each outgoing connection takes a port from
 * that range and keeps it in TIME_WAIT for a minute after closing, and a listener cannot bind a port held that
 * way, even with SO_REUSEADDR. After a suite's thousands of short connections a fixed port inside the range was
 * taken often enough to fail the next suite's start with EADDRINUSE.
 */
const env: Record<string, string | undefined> = globalThis.process?.env ?? {};
const num = (name: string, fallback: number) => Number(env[name] ?? fallback);

/** The edge suite (vitest.edge.config.ts): OC_TEST_PORT_BASE, 24331…24338. */
const testBase = num("OC_TEST_PORT_BASE", 24331);
export const TEST_PORTS = {
  wsBridge: testBase,
  resend: testBase + 1,
  google: testBase + 2,
  llm: testBase + 3,
  stripe: testBase + 4,
  hostinger: testBase + 5,
  chat: testBase + 6,
  browserless: testBase + 7,
} as const;

/** Fixed test credentials of the edge suite's stand-ins; never real secrets. */
export const TEST_SECRETS = {
  resendKey: "re_test_local_key",
  googleClientId: "test-client-id",
  googleClientSecret: "test-client-secret",
  stripeKey: "sk_test_local",
  stripeWebhookSecret: "whsec_test_local",
  hostingerToken: "hostinger-test-token",
  browserlessToken: "browserless-test-token",
} as const;

/** `npm run dev` (scripts/dev.sh): the edge on OC_DEV_PORT (8787), stand-ins from OC_DEV_PORT_BASE (24330). */
export function devPorts(base = num("OC_DEV_PORT_BASE", 24330), edge = num("OC_DEV_PORT", 8787)) {
  return { edge, bridge: base, s3: base + 10, llm: base + 20, browserless: base + 25, stripe: base + 30 } as const;
}

/**
 * The e2e suite (e2e/global-setup.ts): `wrangler dev` on OC_E2E_PORT (8788; not moved by the base, which is
 * why e2e runs are serialised machine-wide), stand-ins and its inspector from OC_E2E_PORT_BASE (24361…24367).
 */
const e2eBase = num("OC_E2E_PORT_BASE", 24361);
export const E2E_PORTS = {
  edge: num("OC_E2E_PORT", 8788),
  bridge: e2eBase,
  llm: e2eBase + 1,
  stripe: e2eBase + 2,
  hostinger: e2eBase + 3,
  chat: e2eBase + 4,
  browserless: e2eBase + 5,
  // wrangler dev's V8 inspector, off its default 9229: two edges started at the same moment (this one and a
  // developer's, or two checkouts') both find 9229 free and the second fails to start.
  inspector: e2eBase + 6,
} as const;

/** e2e/dev-start.test.ts runs `npm run dev` itself, on a private block beside the shared e2e edge. */
export const DEV_START = { pg: 24469, ...devPorts(24470, 8790) } as const;

// `node test-harness/ports.ts dev` prints the dev block as shell assignments for scripts/dev.sh.
if (env.OC_PRINT_PORTS === "dev") {
  for (const [k, v] of Object.entries(devPorts())) console.log(`DEV_PORT_${k.toUpperCase()}=${v}`);
}
