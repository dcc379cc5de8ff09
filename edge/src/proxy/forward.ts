import type { Env } from "../env";
import type { Api, ModelInfo } from "./catalog";
import { holdFor } from "./hold";
import { apiOf, TEXT_ONLY_FACTS, type CountEndpoint, type Endpoint } from "./request-policy";
import type { RouteDecision } from "./router";
import { translateRequest } from "./translate";

/** What forwarding got: the answering model and its response, or the last failure. */
export interface Forwarded {
  used?: ModelInfo;
  upstream?: Response;
  failure?: { status: number; body: unknown; retryable: boolean; timeout?: boolean };
  /** The last attempt went to the other provider (its error body is not in the client's format). */
  failedAcross: boolean;
}

/** What the client sent, and what the allow-list kept of it (request-policy.ts). */
export interface ClientRequest {
  /** The body as parsed (for translation across formats). */
  body: Record<string, unknown>;
  /** The allowed fields; `changed` when the policy dropped or set any. */
  policedBody: Record<string, unknown>;
  changed: boolean;
  /** The client's own bytes, forwarded as they are when nothing needs to change. */
  bytes: Uint8Array;
  maxOut: number | undefined;
  stream: boolean;
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * The request for `model` in the client's own format. Only what the route and the metering need is changed:
 * the model id, an output cap when none was asked (so the reservation really bounds the price), and the
 * usage chunk of a chat stream. When none of these and no policy change applies, the client's bytes go as
 * they are, without being serialised again.
 */
export function sameFormat(req: ClientRequest, model: ModelInfo, target: Endpoint): BodyInit {
  const p = req.policedBody;
  let edits: Record<string, unknown> | undefined;
  if (p.model !== model.id) (edits ??= {}).model = model.id;
  if (req.maxOut === undefined && (target === "chat" || target === "responses"))
    (edits ??= {})[target === "responses" ? "max_output_tokens" : "max_completion_tokens"] = model.maxOutput;
  if (req.stream && target === "chat" && !(isObj(p.stream_options) && p.stream_options.include_usage === true))
    (edits ??= {}).stream_options = { ...(isObj(p.stream_options) ? p.stream_options : {}), include_usage: true };
  if (!edits && !req.changed) return req.bytes;
  return JSON.stringify(edits ? { ...p, ...edits } : p);
}

/**
 * Forwards to the route's candidates in order, falling back to the next on
 * 5xx/429/timeouts; the other provider's model (cross-provider fallback) gets the request translated to its
 * format, with an output cap the hold already reserved can pay for.
 */
export async function forward(
  env: Env,
  endpoint: Endpoint,
  api: Api,
  routed: RouteDecision,
  req: ClientRequest,
  maxWholesale: number,
  signal: AbortSignal,
): Promise<Forwarded> {
  const out: Forwarded = { failedAcross: false };
  for (const model of routed.candidates) {
    const across = model.api !== api;
    const target: Endpoint = across ? (model.api === "anthropic" ? "messages" : "chat") : endpoint;
    let payload: BodyInit;
    if (across) {
      const crossMax = affordableOutput(model, req.bytes.length, maxWholesale, req.maxOut);
      // Skip it when the hold cannot pay for a useful answer (fewer tokens than asked for, and under 256).
      if (crossMax < Math.min(256, req.maxOut ?? 256)) continue;
      const translated = translateRequest(model.api, req.body, model.id, crossMax);
      if (req.stream && target === "chat") translated.stream_options = { include_usage: true };
      payload = JSON.stringify(translated);
    } else payload = sameFormat(req, model, target);
    const r = await callUpstream(env, target, payload, signal, req.stream);
    out.failedAcross = across;
    if (r.ok) {
      out.used = model;
      out.upstream = r.response;
      break;
    }
    out.failure = r;
    if (!r.retryable) break;
  }
  return out;
}

/**
 * Output tokens the other provider's model may produce so that its worst-case price stays within the hold
 * already reserved for the client's own models: the fallback never needs a second reservation.
 */
function affordableOutput(m: ModelInfo, bodyBytes: number, heldWholesale: number, requested: number | undefined): number {
  // Only plain text conversations cross formats (translate.ts), so the body's bytes bound the input.
  const inputCost = holdFor({ ...TEXT_ONLY_FACTS, maxOutput: 0 }, m, bodyBytes);
  const perToken = m.outputPer1M / 1_000_000;
  const affordable = perToken > 0 ? Math.floor((heldWholesale - inputCost) / perToken) : m.maxOutput;
  return Math.max(0, Math.min(requested ?? m.maxOutput, m.maxOutput, affordable));
}

// ── the provider call ───────────────────────────────────────────────────────────────────────────────

/**
 * The provider call: the request bytes as built by forward.ts (the client's own bytes when nothing had to
 * change), POSTed with `fetch` and the platform's provider key; the client's headers, its key included, never
 * go upstream. The provider's response comes back as it is, so a stream passes through byte for byte,
 * unparsed and unbuffered. No retries here: the router's fallback decides what happens after a failure.
 */
export type UpstreamResult = { ok: true; response: Response } | { ok: false; status: number; body: unknown; retryable: boolean; timeout?: boolean };

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
 * POSTs `body` to the provider; `signal` aborts the call and its body at any time. The timeout of a whole
 * answer covers it all, through one native timeout signal (no timer to clear on the hot path: the runtime's
 * Node-compatible clearTimeout showed up in the CPU profile); a stream's covers only the wait for its
 * headers, so a long stream is never cut.
 */
export async function callUpstream(env: Env, endpoint: Endpoint | CountEndpoint, body: BodyInit, signal: AbortSignal, stream = false): Promise<UpstreamResult> {
  const t = target(env);
  const limit = stream ? headersDeadline(signal, t.timeoutMs) : wholeDeadline(signal, t.timeoutMs);
  let res: Response;
  try {
    res = await fetch(t.urls[endpoint], { method: "POST", headers: t.headers[apiOf(endpoint)], body, signal: limit.signal });
  } catch {
    return limit.timedOut()
      ? { ok: false, status: 504, body: undefined, retryable: true, timeout: true }
      : { ok: false, status: 502, body: undefined, retryable: true };
  } finally {
    limit.headersArrived();
  }
  if (res.ok) return { ok: true, response: res };
  // The provider's own error body, passed to the client as it is when it is JSON (respond.ts).
  return { ok: false, status: res.status, body: await errorBody(res), retryable: res.status === 429 || res.status >= 500 };
}

/**
 * An error answer's JSON body, read within 5 s and 64 KiB: a stream's deadline ended with its headers, and a
 * slow or endless error body must not hold the call (and its hold) open.
 */
async function errorBody(res: Response): Promise<unknown> {
  const late = new Promise<undefined>((resolve) => AbortSignal.timeout(5_000).addEventListener("abort", () => resolve(undefined)));
  try {
    const text = await Promise.race([res.text(), late]);
    if (text === undefined || text.length > 65_536) return undefined;
    return JSON.parse(text);
  } catch {
    return undefined;
  } finally {
    res.body?.cancel().catch(() => {});
  }
}

interface Deadline {
  signal: AbortSignal;
  timedOut: () => boolean;
  headersArrived: () => void;
}

function wholeDeadline(signal: AbortSignal, ms: number): Deadline {
  const timeout = AbortSignal.timeout(ms);
  return { signal: AbortSignal.any([signal, timeout]), timedOut: () => timeout.aborted, headersArrived: () => {} };
}

function headersDeadline(signal: AbortSignal, ms: number): Deadline {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  if (signal.aborted) ctl.abort();
  else signal.addEventListener("abort", onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => ((timedOut = true), ctl.abort()), ms);
  return { signal: ctl.signal, timedOut: () => timedOut, headersArrived: () => clearTimeout(timer) };
}
