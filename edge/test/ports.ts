/**
 * Loopback ports of the test stand-ins; shared by vitest.edge.config.ts (bindings) and global-setup.ts.
 * OC_TEST_PORT_BASE moves the whole block so that two checkouts can run the edge suite side by side; inside
 * workerd the same variable arrives as a binding (nodejs_compat puts bindings on process.env).
 */
const base = Number(globalThis.process?.env?.OC_TEST_PORT_BASE ?? 54331);
export const TEST_PORTS = {
  wsBridge: base,
  resend: base + 1,
  google: base + 2,
  llm: base + 3,
  stripe: base + 4,
  hostinger: base + 5,
  chat: base + 6,
  browserless: base + 7,
} as const;
export const TEST_SECRETS = { resendKey: "re_test_local_key", googleClientId: "test-client-id", googleClientSecret: "test-client-secret", stripeKey: "sk_test_local", stripeWebhookSecret: "whsec_test_local", hostingerToken: "hostinger-test-token", browserlessToken: "browserless-test-token" } as const;
