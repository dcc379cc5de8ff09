// DEV/TEST ONLY — NOT AN LLM. A local stand-in for the OpenAI and Anthropic HTTP APIs so the platform runs
// with no API keys. It answers in the real wire formats (JSON and SSE, with usage), echoing the last user
// message the person wrote (never the runtime context an agent adds to it). Every reply says "[dev stand-in]"
// so nobody mistakes it for a model.
//
// Tests steer one request at a time with directives in the last user message (parallel-safe):
//   [[fail:500]] / [[fail:429]]        answer with that upstream error
//   [[fail-model:NAME:503]]            fail only when the requested model is NAME (fallback tests)
//   [[fail-api:openai:503]]            fail every OpenAI-format (or anthropic) call: a provider outage
//   [[empty-model:NAME]]               answer with no text at all when the requested model is NAME (escalation tests)
//   [[chunks:N]]                       stream the reply in N chunks of ~3 tokens each
//   [[slow:MS]]                        wait MS between streamed chunks
//   [[break:N]]                        drop the connection after N chunks (no usage is ever sent)
//   [[delay:MS]]                       wait MS before answering at all (upstream timeouts)
//   [[usage:in=N,out=N,cached=N,reasoning=N,w5m=N,w1h=N,tier=T]]
//                                      report exactly this usage (any subset; `in` counts cached and cache
//                                      writes, `out` counts reasoning), in each format's own fields, and the
//                                      served service tier: for billing tests with reasoning / cache tokens
import http from "node:http";
import type { AddressInfo } from "node:net";
// The same cut the router makes: the stand-in echoes exactly the words the platform treats as the person's.
import { withoutAgentContext } from "../../edge/src/proxy/routing/conversation.ts";

// Request bodies are the providers' loose JSON.
type Obj = any;
type Directives = { empty: boolean; fail: number | undefined; chunks: number | undefined; slow: number; breakAfter: number | undefined };
type Usage = { in: number; out: number; cached: number; reasoning: number; w5m: number; w1h: number; tier: string | undefined };

const words = (s: unknown) => Math.max(1, Math.ceil(String(s).length / 4)); // ~4 chars per token, like the real APIs roughly

const contentText = (content: unknown): string =>
  typeof content === "string"
    ? content
    : ((content ?? []) as { text?: unknown }[])
        .filter((p) => typeof p.text === "string")
        .map((p) => p.text)
        .join(" ");

/**
 * OpenClaw also frames what the person wrote: a timestamp or channel envelope in front ("[Tue 2026-12-01
 * 10:01 UTC] "), and a "Runtime: agent=… | session=…" line after it. Both are the agent's, not the person's.
 */
const ENVELOPE = /^\s*(\[(?!\[)[^[\]\n]{1,120}\]\s*)+/; // never a test directive, which starts with "[["
const RUNTIME_LINE = /\n+Runtime: agent=[^\n]*(\n[\s\S]*)?$/;
const personsWords = (text: string) => withoutAgentContext(text).replace(RUNTIME_LINE, "").replace(ENVELOPE, "").trim();

/** The newest user message that still says something once the agent's context is removed. */
export function lastUserText(messages: { role?: string; content?: unknown }[] = []): string {
  for (const m of [...messages].reverse()) {
    if (m.role !== "user") continue;
    const text = personsWords(contentText(m.content));
    if (text) return text;
  }
  return "";
}

function promptTokens(body: Obj) {
  return words(JSON.stringify(body.messages ?? body.input ?? "") + JSON.stringify(body.system ?? ""));
}

/** With `record`, the bodies of the last 200 model calls are kept and served at GET /_requests (tests). */
export function startLlmStandIn({
  port = Number(process.env.LLM_STAND_IN_PORT ?? 24350),
  host = "127.0.0.1",
  latencyMs = 0,
  record = false,
} = {}): Promise<http.Server> {
  const recorded: { path?: string; body: string; auth?: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer((req, res) => {
    if (record && req.method === "GET" && req.url === "/_requests") return json(res, 200, recorded);
    let raw = "";
    req.on("data", (d) => (raw += d));
    if (record)
      req.on(
        "end",
        () =>
          req.method === "POST" &&
          (recorded.push({ path: req.url, body: raw, auth: req.headers.authorization ?? String(req.headers["x-api-key"]), headers: req.headers }),
          recorded.length > 200 && recorded.shift()),
      );
    req.on("end", () => setTimeout(() => handle(req, res, raw), latencyMs + (Number(raw.match(/\[\[delay:(\d+)\]\]/)?.[1]) || 0)));
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string) {
  const url = new URL(req.url ?? "/", "http://x");
  const path = url.pathname.replace(/^\/v1/, "");
  let body: Obj = {};
  try {
    body = raw ? JSON.parse(raw) : {};
  } catch {
    return json(res, 400, { error: { message: "invalid JSON", type: "invalid_request_error" } });
  }
  if (req.method === "GET" && path === "/models")
    return json(res, 200, { object: "list", data: [{ id: "dev-echo", object: "model", owned_by: "dev-stand-in" }] });
  if (req.method === "POST" && path === "/embeddings") {
    const inputs = [body.input].flat();
    return json(res, 200, {
      object: "list",
      model: body.model,
      data: inputs.map((t: unknown, i: number) => ({ object: "embedding", index: i, embedding: embed(String(t), body.dimensions ?? 1536) })),
      usage: { prompt_tokens: words(inputs.join(" ")), total_tokens: words(inputs.join(" ")) },
    });
  }
  if (req.method === "POST" && path === "/messages/count_tokens") return json(res, 200, { input_tokens: promptTokens(body) });
  if (req.method === "POST" && path === "/responses/input_tokens") return json(res, 200, { object: "response.input_tokens", input_tokens: promptTokens(body) });
  const said = typeof body.input === "string" ? personsWords(body.input) : lastUserText(body.messages ?? body.input);
  const d = directives(said, body.model, path === "/messages" ? "anthropic" : "openai");
  if (d.fail)
    return json(
      res,
      d.fail,
      d.fail === 429
        ? { error: { message: "Rate limit reached (stand-in)", type: "rate_limit_error" } }
        : { error: { message: `upstream failure ${d.fail} (stand-in)`, type: "server_error" } },
    );
  const reply = d.empty
    ? ""
    : d.chunks
      ? "[dev stand-in] " + "word ".repeat(d.chunks * 3).trim()
      : `[dev stand-in] You said: ${said.length > 500 ? `…${said.slice(-500)}` : said}`;
  const pieces = d.chunks
    ? Array.from({ length: d.chunks }, (_, i) => (i === 0 ? "[dev stand-in] " : "") + "word word word ")
    : (reply.match(/.{1,12}/gs) ?? [reply]);
  const inTok = promptTokens(body);
  const outTok = words(reply);
  const u = usageOverride(said, inTok, outTok);
  if (req.method === "POST" && path === "/chat/completions") {
    const id = `chatcmpl-dev-${Date.now()}`;
    if (!body.stream)
      return json(res, 200, {
        id,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: reply }, finish_reason: "stop" }],
        usage: chatUsage(u),
        ...(u.tier ? { service_tier: u.tier } : {}),
      });
    sse(res);
    const chunk = (delta: Obj, finish: string | null = null) => ({
      id,
      object: "chat.completion.chunk",
      created: 0,
      model: body.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    res.write(`data: ${JSON.stringify(chunk({ role: "assistant", content: "" }))}\n\n`);
    return paced(
      res,
      d,
      pieces.map((p) => `data: ${JSON.stringify(chunk({ content: p }))}\n\n`),
      () => {
        res.write(`data: ${JSON.stringify(chunk({}, "stop"))}\n\n`);
        if (body.stream_options?.include_usage)
          res.write(
            `data: ${JSON.stringify({ id, object: "chat.completion.chunk", model: body.model, choices: [], usage: chatUsage(u), ...(u.tier ? { service_tier: u.tier } : {}) })}\n\n`,
          );
        res.end("data: [DONE]\n\n");
      },
    );
  }
  if (req.method === "POST" && path === "/responses") {
    const id = `resp_dev_${Date.now()}`;
    const output = [
      { type: "message", id: `msg_${id}`, role: "assistant", status: "completed", content: [{ type: "output_text", text: reply, annotations: [] }] },
    ];
    const usage = responsesUsage(u);
    const response = {
      id,
      object: "response",
      created_at: Math.floor(Date.now() / 1000),
      status: "completed",
      model: body.model,
      output,
      usage,
      ...(u.tier ? { service_tier: u.tier } : {}),
    };
    if (!body.stream) return json(res, 200, response);
    sse(res);
    let seq = 0;
    const evText = (type: string, data: Obj) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
    res.write(evText("response.created", { response: { ...response, status: "in_progress", output: [], usage: null } }));
    return paced(
      res,
      d,
      pieces.map((p) => evText("response.output_text.delta", { item_id: `msg_${id}`, output_index: 0, content_index: 0, delta: p })),
      () => {
        res.write(evText("response.completed", { response }));
        res.end();
      },
    );
  }
  if (req.method === "POST" && path === "/messages") {
    const id = `msg_dev_${Date.now()}`;
    const message = {
      id,
      type: "message",
      role: "assistant",
      model: body.model,
      content: [{ type: "text", text: reply }],
      stop_reason: "end_turn",
      stop_sequence: null,
    };
    if (!body.stream) return json(res, 200, { ...message, usage: messagesUsage(u) });
    sse(res);
    const ev = (type: string, data: Obj) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    ev("message_start", { message: { ...message, content: [], stop_reason: null, usage: { ...messagesUsage(u), output_tokens: 1 } } });
    ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
    const evText = (type: string, data: Obj) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    return paced(
      res,
      d,
      pieces.map((p) => evText("content_block_delta", { index: 0, delta: { type: "text_delta", text: p } })),
      () => {
        ev("content_block_stop", { index: 0 });
        ev("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: u.out } });
        ev("message_stop", {});
        res.end();
      },
    );
  }
  json(res, 404, { error: { message: `no such route: ${req.method} ${url.pathname}`, type: "invalid_request_error" } });
}

/** The usage to report: the stand-in's own estimate, or exactly what a [[usage:…]] directive says. */
function usageOverride(text: string, inTok: number, outTok: number): Usage {
  const m = String(text).match(/\[\[usage:([^\]]*)\]\]/);
  const kv = Object.fromEntries(
    (m?.[1] ?? "")
      .split(",")
      .filter(Boolean)
      .map((p) => p.split("=").map((x) => x.trim())),
  );
  const n = (k: string, d = 0) => (kv[k] === undefined ? d : Number(kv[k]));
  return { in: n("in", inTok), out: n("out", outTok), cached: n("cached"), reasoning: n("reasoning"), w5m: n("w5m"), w1h: n("w1h"), tier: kv.tier };
}
const chatUsage = (u: Usage) => ({
  prompt_tokens: u.in,
  completion_tokens: u.out,
  total_tokens: u.in + u.out,
  prompt_tokens_details: { cached_tokens: u.cached },
  completion_tokens_details: { reasoning_tokens: u.reasoning },
});
const responsesUsage = (u: Usage) => ({
  input_tokens: u.in,
  output_tokens: u.out,
  total_tokens: u.in + u.out,
  input_tokens_details: { cached_tokens: u.cached },
  output_tokens_details: { reasoning_tokens: u.reasoning },
});
const messagesUsage = (u: Usage) => ({
  input_tokens: Math.max(0, u.in - u.cached - u.w5m - u.w1h),
  output_tokens: u.out,
  cache_read_input_tokens: u.cached,
  cache_creation_input_tokens: u.w5m + u.w1h,
  cache_creation: { ephemeral_5m_input_tokens: u.w5m, ephemeral_1h_input_tokens: u.w1h },
  ...(u.tier ? { service_tier: u.tier } : {}),
});

function directives(text: string, model: string, api: string): Directives {
  const num = (re: RegExp) => Number(text.match(re)?.[1] ?? 0) || undefined;
  const fm = text.match(/\[\[fail-model:([^:\]]+):(\d{3})\]\]/);
  const fa = text.match(/\[\[fail-api:(openai|anthropic):(\d{3})\]\]/);
  const em = text.match(/\[\[empty-model:([^\]]+)\]\]/);
  return {
    empty: !!em && em[1] === model,
    fail: num(/\[\[fail:(\d{3})\]\]/) ?? (fm && fm[1] === model ? Number(fm[2]) : undefined) ?? (fa && fa[1] === api ? Number(fa[2]) : undefined),
    chunks: num(/\[\[chunks:(\d+)\]\]/),
    slow: num(/\[\[slow:(\d+)\]\]/) ?? 0,
    breakAfter: num(/\[\[break:(\d+)\]\]/),
  };
}

/** Writes SSE frames with the requested pacing; drops the socket mid-stream for [[break:N]]. */
function paced(res: http.ServerResponse, d: Directives, frames: string[], finish: () => void) {
  let i = 0;
  const step = () => {
    if (res.destroyed) return;
    if (d.breakAfter !== undefined && i >= d.breakAfter) return res.socket?.destroy();
    if (i >= frames.length) return finish();
    res.write(frames[i++]);
    if (d.slow) setTimeout(step, d.slow);
    else step();
  };
  step();
}

/** A deterministic unit vector from the text, so similar calls give the same embedding. */
function embed(text: string, dims: number) {
  const v = new Array(dims).fill(0);
  for (let i = 0; i < text.length; i++) v[(text.charCodeAt(i) * 31 + i) % dims] += 1;
  const norm = Math.sqrt(v.reduce((a, b) => a + b * b, 0)) || 1;
  return v.map((x) => x / norm);
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json", "x-dev-stand-in": "true" });
  res.end(JSON.stringify(body));
};
const sse = (res: http.ServerResponse) =>
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-dev-stand-in": "true" });

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await startLlmStandIn();
  console.log(`[llm-stand-in] DEV ONLY, not a model: http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`);
}
