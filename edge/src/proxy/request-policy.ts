import type { Api } from "./catalog";

/** The model endpoints the proxy meters. */
export type Endpoint = "chat" | "responses" | "messages" | "embeddings";
/** Free token counting, as the providers offer it (no model call, no charge). */
export type CountEndpoint = "count_tokens" | "input_tokens";

export const apiOf = (endpoint: Endpoint | CountEndpoint): Api => (endpoint === "messages" || endpoint === "count_tokens" ? "anthropic" : "openai");

/**
 * What the proxy forwards, per endpoint. The upstream bills for everything a request makes it do, so the
 * forwarded body is built from an allow-list: fields the hold cannot price are dropped (unknown, vendor or
 * compatibility extensions the real APIs would reject anyway) or refused with a clear provider-shaped error
 * (anything that makes the provider spend beyond tokens the hold can bound, or that reaches the platform's
 * own provider account: stored responses, uploaded files, vector stores, server-side tools). What remains is
 * described by `RequestFacts`, which `hold.ts` prices.
 */
export interface RequestFacts {
  /** Choices generated per request (OpenAI `n`): output is billed for each. */
  choices: number;
  /** Output tokens asked for (max_tokens and its aliases), if any. */
  maxOutput: number | undefined;
  /** The service tier the client asked for; "priority" costs a multiple of the list price. */
  serviceTier: "standard" | "priority";
  /** Images in the input: each costs up to a fixed number of tokens, whatever its bytes. */
  images: number;
  /** PDFs / files: their token count is not bounded by their bytes, so the hold takes the whole context. */
  documents: number;
  /** Anthropic prompt-cache writes asked for (priced above the input price), by longest TTL. */
  cacheWrite: "none" | "5m" | "1h";
  /** Bytes of a predicted output (OpenAI `prediction`): rejected prediction tokens are billed as output. */
  predictionBytes: number;
  /** The model may produce tokens that are billed but never streamed (reasoning / extended thinking). */
  hiddenOutput: boolean;
}

/** A plain text request: one choice, no images or documents, no cache writes; what the policy finds adds to it. */
export const TEXT_ONLY_FACTS: Readonly<RequestFacts> = {
  choices: 1,
  maxOutput: undefined,
  serviceTier: "standard",
  images: 0,
  documents: 0,
  cacheWrite: "none",
  predictionBytes: 0,
  hiddenOutput: false,
};

export type Policed = { ok: true; body: Record<string, unknown>; facts: RequestFacts; changed: boolean } | { ok: false; message: string; param: string };

/** The most choices one request may ask for (each is priced into the hold). */
export const MAX_CHOICES = 8;

const CHAT_FIELDS = new Set([
  "model",
  "messages",
  "stream",
  "stream_options",
  "max_tokens",
  "max_completion_tokens",
  "n",
  "temperature",
  "top_p",
  "frequency_penalty",
  "presence_penalty",
  "stop",
  "seed",
  "logit_bias",
  "logprobs",
  "top_logprobs",
  "response_format",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "functions",
  "function_call",
  "user",
  "safety_identifier",
  "metadata",
  "reasoning_effort",
  "verbosity",
  "service_tier",
  "store",
  "prompt_cache_key",
  "prompt_cache_retention",
  "prediction",
  "modalities",
  "audio",
  "web_search_options",
]);
const RESPONSES_FIELDS = new Set([
  "model",
  "input",
  "instructions",
  "stream",
  "stream_options",
  "max_output_tokens",
  "temperature",
  "top_p",
  "top_logprobs",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "max_tool_calls",
  "reasoning",
  "text",
  "truncation",
  "user",
  "safety_identifier",
  "metadata",
  "service_tier",
  "store",
  "prompt_cache_key",
  "prompt_cache_retention",
  "include",
  "previous_response_id",
  "conversation",
  "background",
  "prompt",
]);
const EMBEDDINGS_FIELDS = new Set(["model", "input", "dimensions", "encoding_format", "user"]);
const MESSAGES_FIELDS = new Set([
  "model",
  "messages",
  "system",
  "max_tokens",
  "stream",
  "stop_sequences",
  "temperature",
  "top_p",
  "top_k",
  "tools",
  "tool_choice",
  "thinking",
  "metadata",
  "service_tier",
  "mcp_servers",
  "container",
]);
const COUNT_FIELDS = new Set(["model", "messages", "system", "tools", "tool_choice", "thinking"]);

/** Tool types that run on the provider's side (and are billed per use, or read the platform's account). */
const OPENAI_CLIENT_TOOLS = new Set(["function", "custom"]);
/** Anthropic tools the client executes (billed as tokens only); every other `type` is a server tool. */
const ANTHROPIC_CLIENT_TOOL = /^(custom|bash_\d+|text_editor_\d+|computer_\d+|memory_\d+)$/;
const RESPONSES_INCLUDE = new Set(["reasoning.encrypted_content", "message.output_text.logprobs"]);

type Refuse = { ok: false; message: string; param: string };
const refuse = (param: string, message: string): Refuse => ({ ok: false, param, message });
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * Counts media inside message content, recursively (tool results carry images too); refuses what the hold
 * cannot bound. The walk allocates nothing per node: the path of a refused part is spelled only then, from
 * the stack of keys walked so far.
 */
class MediaScan {
  images = 0;
  documents = 0;
  cacheWrite: RequestFacts["cacheWrite"] = "none";
  refusal: Refuse | undefined;
  private readonly at: (string | number)[] = [];

  /** Scans `value`, found under the property (or index) `key` of what is being scanned. */
  scan(value: unknown, key: string | number): void {
    if (this.refusal || this.at.length > 12 || typeof value !== "object" || value === null) return;
    this.at.push(key);
    if (Array.isArray(value)) for (let i = 0; i < value.length && !this.refusal; i++) this.scan(value[i], i);
    else this.scanPart(value as Record<string, unknown>);
    this.at.pop();
  }

  private refuse(message: string) {
    const path = this.at.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
    this.refusal = refuse(path, message);
  }

  private scanPart(value: Record<string, unknown>) {
    const type = typeof value.type === "string" ? value.type : undefined;
    if (isObj(value.cache_control)) {
      const ttl = value.cache_control.ttl === "1h" ? "1h" : "5m";
      if (ttl === "1h" || this.cacheWrite === "none") this.cacheWrite = ttl;
    }
    switch (type) {
      // A tool call's arguments are the model's own JSON, not content: nothing in them is billed as media.
      case "tool_use":
      case "server_tool_use":
      case "function_call":
        return;
      case "image_url":
      case "input_image":
        if (type === "input_image" && value.file_id !== undefined)
          return this.refuse("Uploaded files (`file_id`) are not available through this proxy: send the image inline or by URL.");
        this.images++;
        return;
      case "image": {
        const source = isObj(value.source) ? value.source : {};
        if (source.type === "file") return this.refuse("Uploaded files (`file_id`) are not available through this proxy: send the image inline or by URL.");
        this.images++;
        return;
      }
      case "file":
      case "input_file": {
        const f = type === "file" && isObj(value.file) ? value.file : value;
        if (f.file_id !== undefined) return this.refuse("Uploaded files (`file_id`) are not available through this proxy: send the file inline (`file_data`).");
        this.documents++;
        return;
      }
      case "document": {
        const source = isObj(value.source) ? value.source : {};
        if (source.type === "file") return this.refuse("Uploaded files (`file_id`) are not available through this proxy: send the document inline.");
        // Plain-text documents are bounded by their bytes like any text; PDFs and URLs are not.
        if (source.type === "text") return;
        if (source.type === "content") return this.scan(source.content, "source.content");
        this.documents++;
        return;
      }
      case "input_audio":
      case "audio":
        return this.refuse("Audio input is not available through this proxy.");
      case "container_upload":
        return this.refuse("Code-execution containers are not available through this proxy.");
      case "item_reference":
        return this.refuse("Stored response items (`item_reference`) are not available through this proxy: send the items themselves.");
    }
    for (const k in value) if (k !== "cache_control" && !this.refusal) this.scan(value[k], k);
  }
}

function pick(body: Record<string, unknown>, allowed: Set<string>): { out: Record<string, unknown>; dropped: boolean } {
  const out: Record<string, unknown> = {};
  let dropped = false;
  for (const k in body) {
    if (allowed.has(k)) out[k] = body[k];
    else dropped = true;
  }
  return { out, dropped };
}

/** The request to forward for `endpoint`, and the facts its hold is priced from; or why it is refused. */
export function policeRequest(endpoint: Endpoint | "count_tokens", body: Record<string, unknown>): Policed {
  const allowed = { chat: CHAT_FIELDS, responses: RESPONSES_FIELDS, embeddings: EMBEDDINGS_FIELDS, messages: MESSAGES_FIELDS, count_tokens: COUNT_FIELDS }[
    endpoint
  ];
  const { out, dropped } = pick(body, allowed);
  let changed = dropped;
  const facts: RequestFacts = { ...TEXT_ONLY_FACTS };
  if (endpoint === "embeddings") return { ok: true, body: out, facts, changed };
  // A lenient provider might stream on `1` or "true" while the proxy waits for a whole answer to price.
  if (out.stream !== undefined && out.stream !== null && typeof out.stream !== "boolean") return refuse("stream", "`stream` must be true or false.");

  // Output bounds: one number, a positive integer, or none (the model's maximum).
  const maxOut = endpoint === "chat" ? (out.max_completion_tokens ?? out.max_tokens) : endpoint === "responses" ? out.max_output_tokens : out.max_tokens;
  if (maxOut !== undefined && maxOut !== null && (!Number.isInteger(maxOut) || (maxOut as number) < 1))
    return refuse(endpoint === "responses" ? "max_output_tokens" : "max_tokens", "The maximum output tokens must be a positive integer.");
  facts.maxOutput = (maxOut ?? undefined) as number | undefined;

  const media = new MediaScan();
  const tools = out.tools;
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) return refuse("tools", "`tools` must be an array.");
    for (let i = 0; i < tools.length; i++) {
      const t = tools[i];
      const type = isObj(t) ? t.type : undefined;
      const client =
        endpoint === "messages" || endpoint === "count_tokens"
          ? type === undefined || (typeof type === "string" && ANTHROPIC_CLIENT_TOOL.test(type))
          : typeof type === "string" && OPENAI_CLIENT_TOOLS.has(type);
      if (!client)
        return refuse(`tools[${i}]`, `Server-side tools (${String(type)}) are not available through this proxy; define them as functions your client runs.`);
      if (isObj(t) && isObj(t.cache_control)) media.scan({ cache_control: t.cache_control }, `tools[${i}]`);
    }
  }

  if (endpoint === "chat") {
    const n = out.n ?? 1;
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > MAX_CHOICES) return refuse("n", `\`n\` must be an integer from 1 to ${MAX_CHOICES}.`);
    facts.choices = n as number;
    if (out.web_search_options !== undefined) return refuse("web_search_options", "Web search by the provider is not available through this proxy.");
    if (out.audio !== undefined || (Array.isArray(out.modalities) && out.modalities.some((m) => m !== "text")))
      return refuse("modalities", "Audio output is not available through this proxy: ask for text.");
    if (out.store === true) return refuse("store", "Stored completions are not available through this proxy (`store` must be false).");
    if (isObj(out.prediction)) facts.predictionBytes = JSON.stringify(out.prediction.content ?? "").length;
    facts.hiddenOutput = out.reasoning_effort !== undefined && out.reasoning_effort !== "none";
    media.scan(out.messages, "messages");
  } else if (endpoint === "responses") {
    for (const k of ["previous_response_id", "conversation", "prompt"] as const)
      if (out[k] !== undefined && out[k] !== null)
        return refuse(k, `Stored responses, conversations and prompts (\`${k}\`) are not available through this proxy: send the full input each time.`);
    if (out.background === true) return refuse("background", "Background responses are not available through this proxy.");
    // The Responses API stores every answer in the provider account unless told not to.
    if (out.store === true) return refuse("store", "Stored responses are not available through this proxy (`store` must be false).");
    if (out.store !== false) ((out.store = false), (changed = true));
    if ("background" in out) ((changed = true), delete out.background);
    if (out.include !== undefined) {
      if (!Array.isArray(out.include)) return refuse("include", "`include` must be an array.");
      const bad = out.include.find((i) => !RESPONSES_INCLUDE.has(i as string));
      if (bad !== undefined) return refuse("include", `\`include: ${JSON.stringify(bad)}\` is not available through this proxy.`);
    }
    facts.hiddenOutput = !(isObj(out.reasoning) && out.reasoning.effort === "none") && out.reasoning !== undefined;
    media.scan(out.input, "input");
    media.scan(out.instructions, "instructions");
  } else {
    if (out.mcp_servers !== undefined) return refuse("mcp_servers", "MCP servers run by the provider are not available through this proxy.");
    if (out.container !== undefined) return refuse("container", "Code-execution containers are not available through this proxy.");
    facts.hiddenOutput = isObj(out.thinking) && out.thinking.type !== "disabled";
    media.scan(out.system, "system");
    media.scan(out.messages, "messages");
  }
  if (media.refusal) return media.refusal;
  facts.images = media.images;
  facts.documents = media.documents;
  facts.cacheWrite = media.cacheWrite;

  const tier = out.service_tier;
  if (tier !== undefined && tier !== null) {
    const ok = endpoint === "messages" ? ["auto", "standard_only"] : ["auto", "default", "flex", "priority"];
    if (typeof tier !== "string" || !ok.includes(tier))
      return refuse("service_tier", `\`service_tier\` must be one of ${ok.join(", ")} (the scale tier is not available through this proxy).`);
    if (tier === "priority") facts.serviceTier = "priority";
  }
  if (endpoint === "count_tokens") facts.maxOutput = 0;
  return { ok: true, body: out, facts, changed };
}

/**
 * Whether a JSON text (one that parsed) must not be forwarded as its own bytes: it repeats a key inside one
 * object (parsers disagree on which copy wins, so the provider might read the copy the policy and the hold did
 * not see), or spells a key with an escape (a parser matching raw key bytes would not see `"\u006dax_tokens"`
 * as the cap). Strings are skipped with indexOf, so a long prompt costs little; the keys of each object are
 * kept in a Set, so an object with a million keys costs linear time, not quadratic.
 */
export function hasDuplicateKeys(text: string): boolean {
  // Per open object its keys so far; null for an array.
  const objects: (Set<string> | null)[] = [];
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let end = text.indexOf('"', i + 1);
      while (end > 0 && oddSlashesBefore(text, end)) end = text.indexOf('"', end + 1);
      if (end < 0) return true; // not JSON after all: never forwarded as it is
      const keys = objects[objects.length - 1];
      if (keyNext && keys) {
        const key = text.slice(i + 1, end);
        if (key.includes("\\") || keys.has(key)) return true;
        keys.add(key);
        keyNext = false;
      }
      i = end;
    } else if (c === 0x7b) {
      objects.push(new Set());
      keyNext = true;
    } else if (c === 0x5b) objects.push(null);
    else if (c === 0x7d || c === 0x5d) objects.pop();
    else if (c === 0x2c) keyNext = objects[objects.length - 1] != null;
  }
  return false;
}

function oddSlashesBefore(text: string, at: number): boolean {
  let n = 0;
  while (text.charCodeAt(at - 1 - n) === 0x5c) n++;
  return n % 2 === 1;
}
