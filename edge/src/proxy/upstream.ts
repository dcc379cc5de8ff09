import type { Env } from "../env";
import type { Api } from "./catalog";

/**
 * The provider call: the request bytes as built by forward.ts (the client's own bytes when nothing had to
 * change), POSTed with `fetch` and the platform's provider key; the client's headers, its key included, never
 * go upstream. The provider's response comes back as it is, so a stream passes through byte for byte,
 * unparsed and unbuffered. No retries here: the router's fallback decides what happens after a failure.
 */
export type UpstreamResult = { ok: true; response: Response } | { ok: false; status: number; body: unknown; retryable: boolean; timeout?: boolean };

export type Endpoint = "chat" | "responses" | "messages" | "embeddings";
/** Free token counting, as the providers offer it (no model call, no charge). */
export type CountEndpoint = "count_tokens" | "input_tokens";

/** Paths under each provider's base URL (OpenAI's includes /v1, Anthropic's does not, as in their SDKs). */
const PATHS: Record<Endpoint | CountEndpoint, string> = {
  chat: "/chat/completions",
  responses: "/responses",
  embeddings: "/embeddings",
  input_tokens: "/responses/input_tokens",
  messages: "/v1/messages",
  count_tokens: "/v1/messages/count_tokens",
};

type Target = { urls: Record<Endpoint | CountEndpoint, string>; headers: Record<Api, Record<string, string>>; timeoutMs: number };
/** Built once per env object (one per isolate): no per-call string work beyond the body. */
const targets = new WeakMap<Env, Target>();

function target(env: Env): Target {
  let t = targets.get(env);
  if (!t) {
    const base = { openai: env.OPENAI_BASE_URL.replace(/\/+$/, ""), anthropic: env.ANTHROPIC_BASE_URL.replace(/\/+$/, "") };
    const urls = {} as Target["urls"];
    for (const e of Object.keys(PATHS) as (Endpoint | CountEndpoint)[]) urls[e] = base[apiOf(e)] + PATHS[e];
    t = {
      urls,
      headers: {
        openai: { "content-type": "application/json", authorization: `Bearer ${env.OPENAI_API_KEY ?? "missing"}` },
        anthropic: { "content-type": "application/json", "x-api-key": env.ANTHROPIC_API_KEY ?? "missing", "anthropic-version": "2023-06-01" },
      },
      timeoutMs: env.UPSTREAM_TIMEOUT_MS,
    };
    targets.set(env, t);
  }
  return t;
}

/**
 * POSTs `body` to the provider. The timeout covers the wait for the response's headers (a stream that has
 * started is not cut); `signal` aborts the call and its body at any time.
 */
export async function callUpstream(env: Env, endpoint: Endpoint | CountEndpoint, body: BodyInit, signal: AbortSignal): Promise<UpstreamResult> {
  const t = target(env);
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  if (signal.aborted) ctl.abort();
  else signal.addEventListener("abort", onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => ((timedOut = true), ctl.abort()), t.timeoutMs);
  let res: Response;
  try {
    res = await fetch(t.urls[endpoint], { method: "POST", headers: t.headers[apiOf(endpoint)], body, signal: ctl.signal });
  } catch {
    signal.removeEventListener("abort", onAbort);
    return timedOut
      ? { ok: false, status: 504, body: undefined, retryable: true, timeout: true }
      : { ok: false, status: 502, body: undefined, retryable: true };
  } finally {
    clearTimeout(timer);
  }
  if (res.ok) return { ok: true, response: res };
  signal.removeEventListener("abort", onAbort);
  // The provider's own error body, passed to the client as it is when it is JSON (respond.ts).
  let error: unknown;
  try {
    error = JSON.parse(await res.text());
  } catch {
    error = undefined;
  }
  return { ok: false, status: res.status, body: error, retryable: res.status === 429 || res.status >= 500 };
}

export const apiOf = (endpoint: Endpoint | CountEndpoint): Api => (endpoint === "messages" || endpoint === "count_tokens" ? "anthropic" : "openai");
