/** Loopback ports of the test stand-ins; shared by vitest.edge.config.ts (bindings) and global-setup.ts. */
export const TEST_PORTS = { wsBridge: 54331, resend: 54332, google: 54333, llm: 54334, stripe: 54335, hostinger: 54336, chat: 54337, browserless: 54338 } as const;
export const TEST_SECRETS = { resendKey: "re_test_local_key", googleClientId: "test-client-id", googleClientSecret: "test-client-secret", stripeKey: "sk_test_local", stripeWebhookSecret: "whsec_test_local", hostingerToken: "hostinger-test-token", browserlessToken: "browserless-test-token" } as const;
