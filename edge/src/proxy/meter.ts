import type { Usage } from "./pricing";
import type { Api } from "./catalog";

/**
 * Reads token usage out of a response as it streams past, without holding the stream back.
 * - OpenAI: usage arrives in the final chunk (we force stream_options.include_usage). If the stream ends
 *   early that chunk never comes, so output is estimated from the text actually streamed (~4 chars/token).
 * - Anthropic: message_start carries input (and cache) tokens, message_delta carries the *cumulative*
 *   output count, so the last value wins; nothing is added up twice.
 */
export class UsageMeter {
  private buffer = "";
  private reported: Usage | undefined;
  private streamedChars = 0;
  private anthropicInput = 0;
  private anthropicCached = 0;
  private anthropicOutput = 0;
  private anthropicFinal = false;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly api: Api,
    private readonly estimatedInputTokens: number,
  ) {}

  /** Feed raw bytes of an SSE stream. */
  push(chunk: Uint8Array) {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line.startsWith("data:")) this.onData(line.slice(5).trim());
    }
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
      const u = ev.usage ?? ev.response?.usage;
      if (u) this.reported = fromOpenAI(u);
      if (ev.type === "response.output_text.delta") this.streamedChars += (ev.delta ?? "").length;
      return;
    }
    if (ev.type === "message_start") {
      const u = ev.message?.usage ?? {};
      this.anthropicInput = (u.input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
      this.anthropicCached = u.cache_read_input_tokens ?? 0;
      this.anthropicOutput = u.output_tokens ?? 0;
    } else if (ev.type === "message_delta" && ev.usage) {
      if (typeof ev.usage.output_tokens === "number") {
        this.anthropicOutput = ev.usage.output_tokens;
        this.anthropicFinal = true;
      }
      if (typeof ev.usage.input_tokens === "number") this.anthropicInput = Math.max(this.anthropicInput, ev.usage.input_tokens);
    } else if (ev.type === "content_block_delta") {
      this.streamedChars += (ev.delta?.text ?? ev.delta?.partial_json ?? ev.delta?.thinking ?? "").length;
    }
  }

  /** Usage so far; `complete` says whether the provider's own final numbers were seen. */
  result(): { usage: Usage; complete: boolean } {
    const streamedTokens = Math.ceil(Math.max(0, this.streamedChars) / 4);
    if (this.api === "openai") {
      if (this.reported) return { usage: this.reported, complete: true };
      return { usage: { inputTokens: this.estimatedInputTokens, outputTokens: streamedTokens, cachedTokens: 0 }, complete: false };
    }
    const input = this.anthropicInput || this.estimatedInputTokens;
    // The final message_delta's count is the provider's word; before it, what was streamed is the count.
    const output = this.anthropicFinal ? this.anthropicOutput : Math.max(this.anthropicOutput, streamedTokens);
    return { usage: { inputTokens: input, outputTokens: output, cachedTokens: this.anthropicCached }, complete: this.anthropicFinal };
  }
}

/** Usage of a complete (non-stream) JSON response, in either format. */
export function usageOfJson(api: Api, json: any): Usage | undefined {
  const u = json?.usage;
  if (!u) return undefined;
  if (api === "openai") return fromOpenAI(u);
  const cached = u.cache_read_input_tokens ?? 0;
  return { inputTokens: (u.input_tokens ?? 0) + cached + (u.cache_creation_input_tokens ?? 0), outputTokens: u.output_tokens ?? 0, cachedTokens: cached };
}

function fromOpenAI(u: any): Usage {
  return {
    inputTokens: u.prompt_tokens ?? u.input_tokens ?? 0,
    outputTokens: u.completion_tokens ?? u.output_tokens ?? 0,
    cachedTokens: u.prompt_tokens_details?.cached_tokens ?? u.input_tokens_details?.cached_tokens ?? 0,
  };
}
