import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { Env } from "../env";
import type { Api } from "./catalog";

/**
 * Upstream calls go through the official SDKs. `.asResponse()` hands back the provider's raw response, so
 * streams pass through byte for byte, unparsed and unbuffered. SDK retries are off: the router's fallback
 * decides what happens after a failure.
 */
type Clients = { openai: OpenAI; anthropic: Anthropic };
const cache = new Map<string, Clients>();

function clients(env: Env): Clients {
  const k = `${env.OPENAI_BASE_URL}|${env.OPENAI_API_KEY}|${env.ANTHROPIC_BASE_URL}|${env.ANTHROPIC_API_KEY}|${env.UPSTREAM_TIMEOUT_MS}`;
  let c = cache.get(k);
  if (!c) {
    c = {
      openai: new OpenAI({ apiKey: env.OPENAI_API_KEY ?? "missing", baseURL: env.OPENAI_BASE_URL, maxRetries: 0, timeout: env.UPSTREAM_TIMEOUT_MS }),
      anthropic: new Anthropic({
        apiKey: env.ANTHROPIC_API_KEY ?? "missing",
        baseURL: env.ANTHROPIC_BASE_URL,
        maxRetries: 0,
        timeout: env.UPSTREAM_TIMEOUT_MS,
      }),
    };
    cache.set(k, c);
  }
  return c;
}

export type UpstreamResult = { ok: true; response: Response } | { ok: false; status: number; body: unknown; retryable: boolean; timeout?: boolean };

export type Endpoint = "chat" | "responses" | "messages" | "embeddings";
/** Free token counting, as the providers offer it (no model call, no charge). */
export type CountEndpoint = "count_tokens" | "input_tokens";

export async function callUpstream(env: Env, endpoint: Endpoint | CountEndpoint, body: Record<string, unknown>, signal: AbortSignal): Promise<UpstreamResult> {
  const c = clients(env);
  try {
    const opts = { signal };
    const p =
      endpoint === "count_tokens"
        ? c.anthropic.messages.countTokens(body as never, opts)
        : endpoint === "input_tokens"
          ? c.openai.responses.inputTokens.count(body as never, opts)
          : endpoint === "chat"
            ? c.openai.chat.completions.create(body as never, opts)
            : endpoint === "responses"
              ? c.openai.responses.create(body as never, opts)
              : endpoint === "embeddings"
                ? c.openai.embeddings.create(body as never, opts)
                : c.anthropic.messages.create(body as never, opts);
    return { ok: true, response: await p.asResponse() };
  } catch (e) {
    if (e instanceof OpenAI.APIConnectionTimeoutError || e instanceof Anthropic.APIConnectionTimeoutError)
      return { ok: false, status: 504, body: undefined, retryable: true, timeout: true };
    const status = (e as { status?: number }).status;
    if (typeof status === "number") return { ok: false, status, body: (e as { error?: unknown }).error, retryable: status === 429 || status >= 500 };
    return { ok: false, status: 502, body: undefined, retryable: true };
  }
}

export const apiOf = (endpoint: Endpoint | CountEndpoint): Api => (endpoint === "messages" || endpoint === "count_tokens" ? "anthropic" : "openai");

/** Embeddings for the platform's own use (Memory Manager search), through the official OpenAI SDK. */
export async function embed(env: Env, input: string[], dimensions = 1536): Promise<number[][]> {
  const res = await clients(env).openai.embeddings.create({ model: "text-embedding-3-small", input, dimensions });
  return res.data.sort((a, b) => a.index - b.index).map((d) => d.embedding);
}
