import type { Api } from "./catalog";
import type { MeteredUsage } from "./hold";

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
