import type { Env } from "../env";
import { TIERS, tierRank, type Api, type ModelInfo } from "./catalog";
import { isClientFault, type Fail } from "./errors";
import { callUpstream, type Forwarded } from "./forward";
import { chargeFor, type MeteredUsage } from "./hold";
import type { Endpoint } from "./request-policy";
import type { RouteDecision } from "./router";
import { badAnswer } from "./routing/escalation";
import { StreamTranslator, translateResponse } from "./translate";

/**
 * The client's answer: the upstream's failure in the client's format, a whole JSON answer (with one
 * escalation a tier up for a detectably bad cheap answer), or the stream passed through untouched while its
 * usage is read (the meter, below). Each path hands the usage it saw to `settle`, exactly once.
 */

/** Who answered, read when the call settles (an escalation changes it after forwarding). */
export interface Answered {
  used?: ModelInfo;
  routed: RouteDecision;
  /** An answer retried a tier up adds the first attempt's cost: both were used. */
  escalated?: { from: string; why: string; wholesale: number; usage: MeteredUsage };
}

/** Charges the call once with the usage seen; `complete` when the provider's own final numbers were. */
export type Settle = (usage: MeteredUsage, complete: boolean) => Promise<void>;

/** No model answered: the hold is released, and the client gets the timeout, the provider's 4xx, or a 502. */
export function upstreamFailed(ctx: ExecutionContext, settle: Settle, { failure, failedAcross }: Forwarded, requestId: string, fail: Fail): Response {
  ctx.waitUntil(settle({ inputTokens: 0, outputTokens: 0, cachedTokens: 0 }, true));
  if (failure?.timeout) return fail("timeout", "The model provider did not answer in time. Please retry.");
  if (failure && !failure.retryable && failure.body && !failedAcross) {
    if (!isClientFault(failure.status)) {
      console.error(`[proxy] the provider refused the platform (HTTP ${failure.status}): ${JSON.stringify(failure.body).slice(0, 500)}`);
      return fail("upstream", "The model providers are unavailable right now. Please retry in a moment.", "upstream_unavailable");
    }
    return new Response(JSON.stringify(failure.body), { status: failure.status, headers: { "content-type": "application/json", "x-request-id": requestId } });
  }
  return fail("upstream", "The model providers are unavailable right now. Please retry in a moment.", "upstream_unavailable");
}

/**
 * The whole answer. A cheap model's detectably bad answer is retried once a tier up (the hold already
 * covers it); the answering model and tier are in the headers either way.
 */
export async function wholeAnswer(
  ctx: ExecutionContext,
  env: Env,
  endpoint: Endpoint,
  api: Api,
  upstream: Response,
  /** Who answered (set); an escalation changes it here, and settle reads it. */
  answered: Answered,
  retryBody: () => BodyInit,
  facts: Parameters<typeof chargeFor>[2],
  headers: Headers,
  estimatedInput: number,
  settle: Settle,
  fail: Fail,
  signal: AbortSignal,
): Promise<Response> {
  let text: string;
  try {
    text = await upstream.text();
  } catch {
    ctx.waitUntil(settle({ inputTokens: estimatedInput, outputTokens: 0, cachedTokens: 0 }, false));
    return fail("upstream", "The model provider's answer broke off. Please retry.", "upstream_unavailable");
  }
  let usage: MeteredUsage | undefined;
  try {
    let parsed = JSON.parse(text);
    let answerApi = answered.used!.api; // the format of `parsed`
    usage = usageOfJson(answerApi, parsed);
    const { routed } = answered;
    const why = routed.escalation && answered.used!.api === api ? badAnswer(answered.used!.api, parsed) : undefined;
    if (why && usage && routed.escalation) {
      const retry = await callUpstream(env, endpoint, retryBody(), signal);
      if (retry.ok) {
        // Read whole before anything changes: a retry that breaks off leaves the first answer to the client,
        // and both calls are charged (the second, unread, at an estimate of its input).
        const second = await retry.response
          .text()
          .then(
            (t) => ({ text: t, parsed: JSON.parse(t) as unknown }),
            () => undefined,
          )
          .catch(() => undefined);
        const secondUsage = second && usageOfJson(routed.escalation.api, second.parsed);
        answered.escalated = { from: answered.used!.id, why, wholesale: chargeFor(answered.used!, usage, facts), usage };
        answered.used = routed.escalation;
        answered.routed = { ...routed, tier: TIERS[Math.min(TIERS.length - 1, tierRank(routed.tier) + 1)]! };
        if (second && secondUsage) {
          text = second.text;
          parsed = second.parsed;
          answerApi = routed.escalation.api;
          usage = secondUsage;
          headers.set("x-oc-model", answered.used.id);
          headers.set("x-oc-tier", answered.routed.tier);
        } else usage = undefined;
      }
    }
    if (answerApi !== api) text = JSON.stringify(translateResponse(answerApi, parsed));
  } catch {
    /* not JSON: estimate below */
  }
  const metered = usage ?? { inputTokens: estimatedInput, outputTokens: Math.ceil(text.length / 4), cachedTokens: 0 };
  // Settled beside the answer, not before it: the charge never sits between the provider and the client.
  ctx.waitUntil(settle(metered, !!usage));
  return new Response(text, { status: upstream.status, headers });
}

/**
 * The stream, passed through as it arrives. Usage is read from the upstream's own stream; a cross-provider
 * answer is rewritten for the client after. A client that goes away does not end the metering (see cancel).
 */
export function streamAnswer(
  upstream: Response,
  used: NonNullable<Answered["used"]>,
  api: Api,
  headers: Headers,
  estimatedInput: number,
  settle: Settle,
  abort: AbortController,
): Response {
  headers.set("cache-control", "no-cache");
  const meter = new UsageMeter(used.api, estimatedInput);
  const translator = used.api !== api ? new StreamTranslator(used.api, used.id) : undefined;
  const reader = upstream.body!.getReader();
  let settledOnce = false;
  const finish = () => {
    if (settledOnce) return;
    settledOnce = true;
    const { usage, complete } = meter.result();
    void settle(usage, complete);
  };
  // A read the client's pull started; when the client goes away mid-read, the drain takes it over.
  let inflight: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  let draining = false;
  const out = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const read = (inflight = reader.read());
        const { value, done: end } = await read;
        if (draining) return; // the drain owns this result now
        inflight = undefined;
        if (end) {
          finish();
          controller.close();
          return;
        }
        meter.push(value);
        controller.enqueue(translator ? translator.push(value) : value);
      } catch (e) {
        if (draining) return;
        finish(); // the upstream broke mid-stream: charge what was streamed
        controller.error(e);
      }
    },
    cancel() {
      // The client went away. The provider bills the whole answer (and any hidden reasoning) whether or not
      // anyone reads it, so the stream is read on, bounded, to its final usage event before settling.
      draining = true;
      const pending = inflight;
      inflight = undefined;
      drainToUsage(reader, meter, pending).finally(() => {
        finish();
        abort.abort();
        reader.cancel().catch(() => {});
      });
    },
  });
  return new Response(out, { status: upstream.status, headers });
}

/** How long, and how many bytes, an abandoned stream is read on for its usage (within waitUntil's 30 s). */
export const DRAIN_MS = 25_000;
export const DRAIN_BYTES = 8 * 1024 * 1024;

async function drainToUsage(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  meter: UsageMeter,
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined,
) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), DRAIN_MS)));
  const limit = meter.bytes + DRAIN_BYTES;
  try {
    while (!meter.final && meter.bytes < limit) {
      const r = await Promise.race([pending ?? reader.read(), timeout]);
      pending = undefined;
      if (r === "timeout" || r.done) break;
      meter.push(r.value);
    }
  } catch {
    /* the upstream broke: settle with what was seen */
  } finally {
    clearTimeout(timer);
  }
}

// ── the meter: usage read from the answer as it passes ──────────────────────────────────────────────

/**
 * Reads token usage out of a response as it streams past, without holding the stream back.
 * - OpenAI: usage arrives in the final chunk (we force stream_options.include_usage; the Responses API sends
 *   it in response.completed). If the stream ends early that chunk never comes, so output is estimated from
 *   the text actually streamed (~4 chars/token).
 * - Anthropic: message_start carries input (and cache) tokens, message_delta carries the *cumulative*
 *   counts, so the last value wins; nothing is added up twice.
 */
export class UsageMeter {
  private buffer = "";
  private reported: MeteredUsage | undefined;
  private streamedChars = 0;
  private anthropic: Required<Pick<MeteredUsage, "inputTokens" | "outputTokens" | "cachedTokens" | "cacheWrite5mTokens" | "cacheWrite1hTokens">> & {
    serviceTier?: string;
  } = {
    inputTokens: 0,
    outputTokens: 0,
    cachedTokens: 0,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
  };
  private anthropicFinal = false;
  private openaiTier: string | undefined;
  /** Bytes seen so far (the drain after a client abort is bounded by it). */
  bytes = 0;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly api: Api,
    private readonly estimatedInputTokens: number,
  ) {}

  /** Feed raw bytes of an SSE stream. */
  push(chunk: Uint8Array) {
    this.bytes += chunk.byteLength;
    this.buffer += this.decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line.startsWith("data:")) this.onData(line.slice(5).trim());
    }
  }

  /** The provider's own final numbers have been seen. */
  get final(): boolean {
    return this.api === "openai" ? this.reported !== undefined : this.anthropicFinal;
  }

  private onData(data: string) {
    if (!data || data === "[DONE]") return;
    let ev: any;
    try {
      ev = JSON.parse(data);
    } catch {
      return;
    }
    if (this.api === "openai") {
      for (const choice of ev.choices ?? []) {
        const d = choice.delta ?? {};
        this.streamedChars += (d.content ?? "").length + (d.reasoning_content ?? "").length;
        for (const tc of d.tool_calls ?? []) this.streamedChars += (tc.function?.name ?? "").length + (tc.function?.arguments ?? "").length;
      }
      if (typeof ev.service_tier === "string") this.openaiTier = ev.service_tier;
      const u = ev.usage ?? ev.response?.usage;
      if (u) this.reported = fromOpenAI(u, ev.service_tier ?? ev.response?.service_tier ?? this.openaiTier);
      if (typeof ev.type === "string" && ev.type.endsWith(".delta") && typeof ev.delta === "string") this.streamedChars += ev.delta.length;
      return;
    }
    if (ev.type === "message_start") {
      this.mergeAnthropic(ev.message?.usage ?? {});
    } else if (ev.type === "message_delta" && ev.usage) {
      this.mergeAnthropic(ev.usage);
      if (typeof ev.usage.output_tokens === "number") this.anthropicFinal = true;
    } else if (ev.type === "content_block_delta") {
      this.streamedChars += (ev.delta?.text ?? ev.delta?.partial_json ?? ev.delta?.thinking ?? "").length;
    }
  }

  /** Anthropic counts are cumulative: the larger of what was seen wins (message_delta repeats them). */
  private mergeAnthropic(u: any) {
    const a = this.anthropic;
    const fresh = fromAnthropic(u);
    a.inputTokens = Math.max(a.inputTokens, fresh.inputTokens);
    a.cachedTokens = Math.max(a.cachedTokens, fresh.cachedTokens);
    a.cacheWrite5mTokens = Math.max(a.cacheWrite5mTokens, fresh.cacheWrite5mTokens ?? 0);
    a.cacheWrite1hTokens = Math.max(a.cacheWrite1hTokens, fresh.cacheWrite1hTokens ?? 0);
    if (typeof u.output_tokens === "number") a.outputTokens = u.output_tokens;
    if (fresh.serviceTier) a.serviceTier = fresh.serviceTier;
  }

  /** Usage so far; `complete` says whether the provider's own final numbers were seen. */
  result(): { usage: MeteredUsage; complete: boolean } {
    const streamedTokens = Math.ceil(Math.max(0, this.streamedChars) / 4);
    if (this.api === "openai") {
      if (this.reported) return { usage: this.reported, complete: true };
      return {
        usage: { inputTokens: this.estimatedInputTokens, outputTokens: streamedTokens, cachedTokens: 0, serviceTier: this.openaiTier },
        complete: false,
      };
    }
    const a = this.anthropic;
    const input = a.inputTokens || this.estimatedInputTokens;
    // The final message_delta's count is the provider's word; before it, what was streamed is the count.
    const output = this.anthropicFinal ? a.outputTokens : Math.max(a.outputTokens, streamedTokens);
    return { usage: { ...a, inputTokens: input, outputTokens: output }, complete: this.anthropicFinal };
  }
}

/** Usage of a complete (non-stream) JSON response, in either format. */
export function usageOfJson(api: Api, json: any): MeteredUsage | undefined {
  const u = json?.usage;
  if (!u) return undefined;
  return api === "openai" ? fromOpenAI(u, json.service_tier) : fromAnthropic(u);
}

/** Anthropic's input_tokens excludes cache reads and writes; ours includes them (cached/written are subsets). */
function fromAnthropic(u: any): MeteredUsage {
  const read = u.cache_read_input_tokens ?? 0;
  const written = u.cache_creation_input_tokens ?? 0;
  const w1 = u.cache_creation?.ephemeral_1h_input_tokens;
  const w5 = u.cache_creation?.ephemeral_5m_input_tokens;
  // Without the per-TTL split every write is priced as the dearer one-hour write.
  const split = typeof w1 === "number" || typeof w5 === "number";
  return {
    inputTokens: (u.input_tokens ?? 0) + read + written,
    outputTokens: u.output_tokens ?? 0,
    cachedTokens: read,
    cacheWrite5mTokens: split ? (w5 ?? 0) : 0,
    cacheWrite1hTokens: split ? (w1 ?? 0) : written,
    serviceTier: typeof u.service_tier === "string" ? u.service_tier : undefined,
  };
}

function fromOpenAI(u: any, tier: unknown): MeteredUsage {
  return {
    inputTokens: u.prompt_tokens ?? u.input_tokens ?? 0,
    outputTokens: u.completion_tokens ?? u.output_tokens ?? 0,
    cachedTokens: u.prompt_tokens_details?.cached_tokens ?? u.input_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? u.output_tokens_details?.reasoning_tokens ?? 0,
    serviceTier: typeof tier === "string" ? tier : undefined,
  };
}
