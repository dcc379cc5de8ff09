import type { Api } from "./catalog";

/**
 * Cross-provider fallback: when every model of the client's format fails (5xx, 429, timeout), a plain text
 * conversation can still be answered by the other provider. This file translates the request, the JSON
 * answer and the SSE stream between OpenAI chat completions and Anthropic messages. Requests with tools,
 * images or other non-text parts are never translated (their semantics differ too much to do it faithfully).
 */
type Msg = { role?: string; content?: unknown };

function textOf(content: unknown): string | undefined {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return undefined;
  let out = "";
  for (const part of content as { type?: string; text?: unknown }[]) {
    if (!part || (part.type !== "text" && part.type !== "input_text") || typeof part.text !== "string") return undefined;
    out += part.text;
  }
  return out;
}

/** Whether `content` is text only (the test `textOf` passes, without building the text). */
function isText(content: unknown): boolean {
  if (typeof content === "string") return true;
  if (!Array.isArray(content)) return false;
  for (const part of content as { type?: string; text?: unknown }[])
    if (!part || (part.type !== "text" && part.type !== "input_text") || typeof part.text !== "string") return false;
  return true;
}

const TEXT_ROLES = new Set(["system", "developer", "user", "assistant"]);

/** Only text conversations cross formats: no tools, no images, no function results. */
export function translatable(body: Record<string, unknown>): boolean {
  if (body.tools !== undefined || body.tool_choice !== undefined || body.functions !== undefined) return false;
  if (body.system !== undefined && !isText(body.system)) return false;
  const messages = body.messages as Msg[] | undefined;
  if (!Array.isArray(messages)) return false;
  for (const m of messages) if (!m || !TEXT_ROLES.has(m.role ?? "") || !isText(m.content)) return false;
  return true;
}

/** The request in the upstream's format, for the upstream `model`, capped at `maxTokens` of output. */
export function translateRequest(to: Api, body: Record<string, unknown>, model: string, maxTokens: number): Record<string, unknown> {
  const messages = body.messages as Msg[];
  if (to === "anthropic") {
    const system = messages
      .filter((m) => m.role === "system" || m.role === "developer")
      .map((m) => textOf(m.content))
      .join("\n\n");
    const turns: { role: "user" | "assistant"; content: string }[] = [];
    for (const m of messages) {
      if (m.role === "system" || m.role === "developer") continue;
      const role = m.role === "assistant" ? "assistant" : "user";
      const text = textOf(m.content) ?? "";
      const last = turns.at(-1);
      if (last?.role === role)
        last.content += `\n\n${text}`; // Anthropic wants alternating turns
      else turns.push({ role, content: text });
    }
    const stop = body.stop === undefined ? undefined : [body.stop].flat();
    return strip({
      model,
      max_tokens: maxTokens,
      messages: turns,
      system: system || undefined,
      stream: body.stream,
      temperature: body.temperature,
      top_p: body.top_p,
      stop_sequences: stop,
    });
  }
  const system = body.system === undefined ? [] : [{ role: "system", content: textOf(body.system) }];
  return strip({
    model,
    messages: [...system, ...messages.map((m) => ({ role: m.role, content: textOf(m.content) }))],
    max_tokens: maxTokens,
    stream: body.stream,
    stream_options: body.stream ? { include_usage: true } : undefined,
    temperature: body.temperature,
    top_p: body.top_p,
    stop: body.stop_sequences,
  });
}

const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const TO_OPENAI_FINISH: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};
const TO_ANTHROPIC_STOP: Record<string, string> = { stop: "end_turn", length: "max_tokens", tool_calls: "tool_use", content_filter: "refusal" };

/** A non-streamed answer from the upstream (`from`), in the client's format. */
export function translateResponse(from: Api, json: any): unknown {
  if (from === "anthropic") {
    const text = (json.content ?? [])
      .filter((c: { type: string }) => c.type === "text")
      .map((c: { text: string }) => c.text)
      .join("");
    const input = (json.usage?.input_tokens ?? 0) + (json.usage?.cache_read_input_tokens ?? 0) + (json.usage?.cache_creation_input_tokens ?? 0);
    const output = json.usage?.output_tokens ?? 0;
    return {
      id: `chatcmpl-${json.id}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: json.model,
      choices: [
        { index: 0, message: { role: "assistant", content: text, refusal: null }, finish_reason: TO_OPENAI_FINISH[json.stop_reason] ?? "stop", logprobs: null },
      ],
      usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
    };
  }
  const choice = json.choices?.[0];
  return {
    id: `msg_${json.id}`,
    type: "message",
    role: "assistant",
    model: json.model,
    content: [{ type: "text", text: choice?.message?.content ?? "" }],
    stop_reason: TO_ANTHROPIC_STOP[choice?.finish_reason] ?? "end_turn",
    stop_sequence: null,
    usage: { input_tokens: json.usage?.prompt_tokens ?? 0, output_tokens: json.usage?.completion_tokens ?? 0 },
  };
}

/** Rewrites an SSE stream from the upstream's format into the client's, event by event. */
export class StreamTranslator {
  private buffer = "";
  private readonly decoder = new TextDecoder();
  private readonly encoder = new TextEncoder();
  private id = `gen_${crypto.randomUUID().replace(/-/g, "")}`;
  private started = false;
  private finish: string | null = null;
  private usage = { input: 0, output: 0 };

  constructor(
    private readonly from: Api,
    private readonly model: string,
  ) {}

  push(chunk: Uint8Array): Uint8Array {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    let out = "";
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line.startsWith("data:")) out += this.from === "anthropic" ? this.fromAnthropic(line.slice(5).trim()) : this.fromOpenAI(line.slice(5).trim());
    }
    return this.encoder.encode(out);
  }

  private chunk(delta: Record<string, unknown>, finish: string | null = null, usage?: Record<string, number>) {
    const c = {
      id: this.id,
      object: "chat.completion.chunk",
      created: Math.floor(Date.now() / 1000),
      model: this.model,
      choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }],
      ...(usage ? { usage } : {}),
    };
    return `data: ${JSON.stringify(c)}\n\n`;
  }

  /** Anthropic events → OpenAI chat.completion.chunk lines (usage last, then [DONE]). */
  private fromAnthropic(data: string): string {
    let ev: any;
    try {
      ev = JSON.parse(data);
    } catch {
      return "";
    }
    switch (ev.type) {
      case "message_start":
        this.id = `chatcmpl-${ev.message?.id ?? this.id}`;
        this.usage.input = (ev.message?.usage?.input_tokens ?? 0) + (ev.message?.usage?.cache_read_input_tokens ?? 0);
        return this.chunk({ role: "assistant", content: "" });
      case "content_block_delta":
        return ev.delta?.type === "text_delta" ? this.chunk({ content: ev.delta.text }) : "";
      case "message_delta":
        this.finish = TO_OPENAI_FINISH[ev.delta?.stop_reason] ?? "stop";
        this.usage.output = ev.usage?.output_tokens ?? this.usage.output;
        return this.chunk({}, this.finish);
      case "message_stop":
        return (
          this.chunk({}, null, { prompt_tokens: this.usage.input, completion_tokens: this.usage.output, total_tokens: this.usage.input + this.usage.output }) +
          "data: [DONE]\n\n"
        );
      default:
        return "";
    }
  }

  private event(type: string, data: Record<string, unknown>) {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  }

  /** OpenAI chunks → Anthropic message_start … message_stop events. */
  private fromOpenAI(data: string): string {
    if (data === "[DONE]") {
      return (
        this.start() +
        this.event("content_block_stop", { index: 0 }) +
        this.event("message_delta", {
          delta: { stop_reason: TO_ANTHROPIC_STOP[this.finish ?? "stop"] ?? "end_turn", stop_sequence: null },
          usage: { input_tokens: this.usage.input, output_tokens: this.usage.output },
        }) +
        this.event("message_stop", {})
      );
    }
    let c: any;
    try {
      c = JSON.parse(data);
    } catch {
      return "";
    }
    let out = this.start(c.id);
    if (c.usage) {
      this.usage = { input: c.usage.prompt_tokens ?? 0, output: c.usage.completion_tokens ?? 0 };
    }
    const choice = c.choices?.[0];
    if (choice?.delta?.content) out += this.event("content_block_delta", { index: 0, delta: { type: "text_delta", text: choice.delta.content } });
    if (choice?.finish_reason) this.finish = choice.finish_reason;
    return out;
  }

  private start(upstreamId?: string): string {
    if (this.started) return "";
    this.started = true;
    if (upstreamId) this.id = `msg_${upstreamId}`;
    const message = {
      id: this.id,
      type: "message",
      role: "assistant",
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0 },
    };
    return this.event("message_start", { message }) + this.event("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
  }
}
