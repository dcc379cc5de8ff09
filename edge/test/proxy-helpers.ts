import Anthropic from "@anthropic-ai/sdk";
import { env, exports } from "cloudflare:workers";
import OpenAI from "openai";
import { poll } from "../../test-harness/poll";
import { call, signup } from "./helpers";

/** The official SDKs, unchanged but for baseURL, key and a fetch that reaches the Worker under test. */
const workerFetch = ((url: string | URL | Request, init?: RequestInit) => exports.default.fetch(new Request(url, init))) as typeof fetch;

export const openai = (apiKey: string) => new OpenAI({ apiKey, baseURL: "http://localhost/v1", fetch: workerFetch, maxRetries: 0 });
export const anthropic = (apiKey: string) => new Anthropic({ apiKey, baseURL: "http://localhost", fetch: workerFetch, maxRetries: 0 });

/**
 * A signed-up user with a proxy key and `credit` micro-USD of balance. Quiet hours are off: a new account pauses
 * background calls (heartbeats) from 23:00 to 07:00, and the hour the suite runs at must not decide a test;
 * the tests of quiet hours set a window around the current time themselves.
 */
export async function proxyUser(credit = 1_000_000) {
  const u = await signup();
  const issued = await call("/api/agent/proxy-key", { method: "POST", cookie: u.cookie });
  if (issued.status !== 201) throw new Error(`proxy key: ${issued.status} ${JSON.stringify(issued.body)}`);
  const account = env.USER_AGENT.getByName(u.userId);
  await account.updateProtection({ quietHours: { enabled: false, start: "23:00", end: "07:00" } });
  if (credit > 0) await account.credit(credit, "test", crypto.randomUUID());
  return { ...u, key: issued.body.key as string, account };
}

/** Waits until the user's ledger has `n` usage debits (settlement happens after the response). */
export async function debits(account: ReturnType<typeof env.USER_AGENT.getByName>, n = 1, timeoutMs = 5000) {
  const entries = await poll(
    async () => (await account.listLedger(200)).filter((e) => e.kind === "debit:usage"),
    (e) => e.length >= n,
    { timeoutMs },
  );
  if (entries.length < n) throw new Error(`expected ${n} usage debits, saw ${entries.length}`);
  return entries;
}

export const chatBody = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "gpt-4.1-nano",
  messages: [{ role: "user" as const, content }],
  max_tokens: 200,
  ...extra,
});
