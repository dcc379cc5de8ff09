import { exports } from "cloudflare:workers";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { TEST_PORTS } from "../../test-harness/ports";
import { hasDuplicateKeys } from "../src/proxy/request-policy";
import { anthropic, debits, openai, proxyUser } from "./proxy-helpers";

/**
 * The forwarded request is built from an allow-list per endpoint. Each field that would make the provider
 * bill beyond what the hold can bound, or reach the platform's own provider account, is refused with a
 * provider-shaped 400 naming the field, and nothing is reserved or charged. Each refusal has a positive
 * control: the same request without the field goes through.
 */
/** A request body sent as these exact bytes, with the key in both places a client may put it. */
const postRaw = (key: string, path: string, text: string) =>
  exports.default.fetch(
    new Request(`http://localhost${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "x-api-key": key, "content-type": "application/json" },
      body: text,
    }),
  );
const post = (key: string, path: string, body: unknown) => postRaw(key, path, JSON.stringify(body));

/** The body the LLM stand-in received for the newest call carrying `marker`, as its bytes. */
async function forwardedText(marker: string): Promise<string> {
  const calls = (await (await fetch(`http://127.0.0.1:${TEST_PORTS.llm}/_requests`)).json()) as { path: string; body: string }[];
  const hit = calls.reverse().find((c) => c.body.includes(marker));
  if (!hit) throw new Error(`no upstream call with ${marker}`);
  return hit.body;
}
const forwarded = async (marker: string): Promise<Record<string, unknown>> => JSON.parse(await forwardedText(marker));

const chat = (text: string, extra: Record<string, unknown> = {}) => ({
  model: "gpt-4.1-nano",
  max_tokens: 50,
  messages: [{ role: "user", content: text }],
  ...extra,
});
const resp = (text: string, extra: Record<string, unknown> = {}) => ({ model: "gpt-4.1-nano", max_output_tokens: 50, input: text, ...extra });
const msg = (text: string, extra: Record<string, unknown> = {}) => ({
  model: "claude-haiku-4-5",
  max_tokens: 50,
  messages: [{ role: "user", content: text }],
  ...extra,
});

const REFUSED: { name: string; path: string; base: (t: string) => Record<string, unknown>; risky: Record<string, unknown>; param: string }[] = [
  { name: "n above the cap", path: "/v1/chat/completions", base: chat, risky: { n: 50 }, param: "n" },
  { name: "scale tier", path: "/v1/chat/completions", base: chat, risky: { service_tier: "scale" }, param: "service_tier" },
  { name: "provider web search (chat)", path: "/v1/chat/completions", base: chat, risky: { web_search_options: {} }, param: "web_search_options" },
  {
    name: "audio output",
    path: "/v1/chat/completions",
    base: chat,
    risky: { modalities: ["text", "audio"], audio: { voice: "alloy", format: "mp3" } },
    param: "modalities",
  },
  { name: "stored completion", path: "/v1/chat/completions", base: chat, risky: { store: true }, param: "store" },
  {
    name: "uploaded file by id (chat)",
    path: "/v1/chat/completions",
    base: chat,
    risky: {
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "read" },
            { type: "file", file: { file_id: "file-abc" } },
          ],
        },
      ],
    },
    param: "messages[0].content[1]",
  },
  {
    name: "audio input",
    path: "/v1/chat/completions",
    base: chat,
    risky: { messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }] }] },
    param: "messages[0].content[0]",
  },
  { name: "previous_response_id", path: "/v1/responses", base: resp, risky: { previous_response_id: "resp_123" }, param: "previous_response_id" },
  { name: "stored conversation", path: "/v1/responses", base: resp, risky: { conversation: "conv_123" }, param: "conversation" },
  { name: "stored prompt", path: "/v1/responses", base: resp, risky: { prompt: { id: "pmpt_1" } }, param: "prompt" },
  { name: "background response", path: "/v1/responses", base: resp, risky: { background: true }, param: "background" },
  { name: "web_search tool", path: "/v1/responses", base: resp, risky: { tools: [{ type: "web_search" }] }, param: "tools[0]" },
  {
    name: "file_search on the platform's vector stores",
    path: "/v1/responses",
    base: resp,
    risky: { tools: [{ type: "file_search", vector_store_ids: ["vs_1"] }] },
    param: "tools[0]",
  },
  {
    name: "code_interpreter",
    path: "/v1/responses",
    base: resp,
    risky: { tools: [{ type: "code_interpreter", container: { type: "auto" } }] },
    param: "tools[0]",
  },
  {
    name: "remote MCP",
    path: "/v1/responses",
    base: resp,
    risky: { tools: [{ type: "mcp", server_label: "x", server_url: "https://example.com" }] },
    param: "tools[0]",
  },
  { name: "stored item reference", path: "/v1/responses", base: resp, risky: { input: [{ type: "item_reference", id: "msg_1" }] }, param: "input[0]" },
  { name: "file_search results include", path: "/v1/responses", base: resp, risky: { include: ["file_search_call.results"] }, param: "include" },
  {
    name: "Anthropic web search",
    path: "/v1/messages",
    base: msg,
    risky: { tools: [{ type: "web_search_20250305", name: "web_search", max_uses: 5 }] },
    param: "tools[0]",
  },
  {
    name: "Anthropic code execution",
    path: "/v1/messages",
    base: msg,
    risky: { tools: [{ type: "code_execution_20250825", name: "code_execution" }] },
    param: "tools[0]",
  },
  { name: "Anthropic web fetch", path: "/v1/messages", base: msg, risky: { tools: [{ type: "web_fetch_20250910", name: "web_fetch" }] }, param: "tools[0]" },
  {
    name: "Anthropic MCP connector",
    path: "/v1/messages",
    base: msg,
    risky: { mcp_servers: [{ type: "url", url: "https://example.com/mcp", name: "x" }] },
    param: "mcp_servers",
  },
  {
    name: "Anthropic Files API image",
    path: "/v1/messages",
    base: msg,
    risky: { messages: [{ role: "user", content: [{ type: "image", source: { type: "file", file_id: "file_1" } }] }] },
    param: "messages[0].content[0]",
  },
];

describe("the forwarded request is built from an allow-list", () => {
  it.each(REFUSED)("refused with a provider-shaped 400, nothing held: $name (control: without it, answered)", async ({ path, base, risky, param }) => {
    const u = await proxyUser();
    const res = await post(u.key, path, { ...base(`refuse ${crypto.randomUUID()}`), ...risky });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type?: string; error: { type: string; message: string; param?: string | null } };
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toMatch(/not available through this proxy|must be/);
    // OpenAI's shape names the field; Anthropic's has no such slot (its SDK reads type and message).
    if (path === "/v1/messages") expect(body.type).toBe("error");
    else expect(body.error.param).toBe(param);
    expect(await u.account.getBalance()).toMatchObject({ reserved: 0, balance: 1_000_000 });
    // Positive control: the same request without the risky field is answered and charged.
    const ok = await post(u.key, path, base(`control ${crypto.randomUUID()}`));
    expect(ok.status).toBe(200);
    await ok.text();
    expect(await debits(u.account)).toHaveLength(1);
  });

  it("unknown and vendor fields are dropped; Responses never store; OpenClaw's own request goes through", async () => {
    const u = await proxyUser();
    const marker = `openclaw-${crypto.randomUUID()}`;
    // The shape OpenClaw's openai-completions transport sends (see @openclaw/ai), plus compatibility extras
    // it adds for other hosts, which the real API would reject.
    const body = {
      model: "auto",
      messages: [
        { role: "system", content: "You are a personal assistant." },
        { role: "user", content: [{ type: "text", text: marker }] },
      ],
      stream: true,
      stream_options: { include_usage: true },
      store: false,
      prompt_cache_key: "session-1",
      max_completion_tokens: 4096,
      tools: [
        {
          type: "function",
          function: { name: "read", description: "Read a file", parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } },
        },
      ],
      tool_choice: "auto",
      parallel_tool_calls: true,
      temperature: 0.2,
      thinking: { type: "enabled" },
      chat_template_kwargs: { enable_thinking: true },
      provider: { order: ["x"] },
      totally_unknown: 1,
    };
    const res = await post(u.key, "/v1/chat/completions", body);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("[DONE]");
    const sent = await forwarded(marker);
    for (const k of [
      "stream",
      "stream_options",
      "store",
      "prompt_cache_key",
      "max_completion_tokens",
      "tools",
      "tool_choice",
      "parallel_tool_calls",
      "temperature",
    ])
      expect(sent, k).toHaveProperty(k);
    for (const k of ["thinking", "chat_template_kwargs", "provider", "totally_unknown"]) expect(sent, k).not.toHaveProperty(k);

    const rmarker = `responses-${crypto.randomUUID()}`;
    const r = await openai(u.key).responses.create({ model: "gpt-4.1-nano", input: rmarker, max_output_tokens: 30 });
    expect(r.output_text).toContain(rmarker);
    expect(await forwarded(rmarker)).toMatchObject({ store: false });
  });

  it("the client's bytes go upstream untouched when nothing changes, with the platform's key, never the client's", async () => {
    const u = await proxyUser();
    const raw = (b: string, path = "/v1/chat/completions") => postRaw(u.key, path, b);
    // Odd spacing and key order survive only if the body is not serialised again.
    const marker = `bytes-${crypto.randomUUID()}`;
    const exact = `{ "messages" : [ {"content":"${marker}", "role":"user"} ],\n  "max_tokens": 40, "model":"gpt-4.1-nano" }`;
    expect((await raw(exact)).status).toBe(200);
    const calls = async (m: string) =>
      ((await (await fetch(`http://127.0.0.1:${TEST_PORTS.llm}/_requests`)).json()) as { body: string; auth: string; headers: object }[]).filter((c) =>
        c.body.includes(m),
      );
    const [sent] = await calls(marker);
    expect(sent!.body).toBe(exact);
    expect(sent!.auth).toBe("Bearer sk-test-upstream");
    const amarker = `abytes-${crypto.randomUUID()}`;
    const aexact = `{"model":"claude-haiku-4-5",  "max_tokens":40,"messages":[{"role":"user","content":"${amarker}"}]}`;
    expect((await raw(aexact, "/v1/messages")).status).toBe(200);
    const [asent] = await calls(amarker);
    expect(asent!.body).toBe(aexact);
    expect(asent!.auth).toBe("sk-ant-test-upstream");
    // No header of any name carries the client's key upstream (it sent it as both Authorization and x-api-key).
    for (const c of [sent!, asent!]) expect(JSON.stringify(c.headers)).not.toContain(u.key);
    expect(JSON.stringify(sent!.headers)).toContain("sk-test-upstream"); // control: the record holds the headers
    // Control: what the route or the metering must change is changed (auto's model, the stream's usage chunk), only that.
    const cmarker = `changed-${crypto.randomUUID()}`;
    const changed = await raw(JSON.stringify({ model: "auto", stream: true, max_tokens: 40, messages: [{ role: "user", content: cmarker }] }));
    expect(await changed.text()).toContain("[DONE]");
    const [csent] = await calls(cmarker);
    const c = JSON.parse(csent!.body);
    expect(c.model).not.toBe("auto");
    expect(c).toMatchObject({ stream: true, max_tokens: 40, stream_options: { include_usage: true }, messages: [{ role: "user", content: cmarker }] });
  });

  it("a body that repeats a key is forwarded as the policy read it, never as its own bytes (control: the test above)", async () => {
    const u = await proxyUser();
    // An upstream parser that keeps the first copy would see 100000 output tokens and n: 8 where the hold
    // priced 40 and 1; the repeat may hide in a nested object too.
    const marker = `dup-${crypto.randomUUID()}`;
    const sneaky = `{"model":"gpt-4.1-nano","max_tokens":100000,"n":8,"messages":[{"role":"user","content":"${marker}","content":"${marker} again"}],"max_tokens":40,"n":1}`;
    const res = await postRaw(u.key, "/v1/chat/completions", sneaky);
    expect(res.status).toBe(200);
    const sent = await forwardedText(marker);
    expect(sent).not.toBe(sneaky);
    expect(sent).not.toContain("100000");
    expect(hasDuplicateKeys(sent)).toBe(false);
    expect(JSON.parse(sent)).toMatchObject({ max_tokens: 40, n: 1, messages: [{ role: "user", content: `${marker} again` }] });
    expect(hasDuplicateKeys(sneaky)).toBe(true);
    expect(hasDuplicateKeys('{"a":{"b":"\\u0062","c":[{"b":1},{"b":2}]},"b":"a"}')).toBe(false);
    expect(hasDuplicateKeys('{"a":{"b":1,"\\u0062":2}}')).toBe(true);
    // A key spelled with an escape is never forwarded as its own bytes either (a parser matching raw key bytes
    // would not see it); control: the same body spelled plainly is not flagged.
    expect(hasDuplicateKeys('{"messages":[{"\\u0072ole":"user","content":"x"}]}')).toBe(true);
    expect(hasDuplicateKeys('{"messages":[{"role":"user","content":"x"}]}')).toBe(false);
    const emarker = `esc-${crypto.randomUUID()}`;
    const escaped = `{"model":"gpt-4.1-nano","max_tokens":40,"messages":[{"\\u0072ole":"user","content":"${emarker}"}]}`;
    expect((await postRaw(u.key, "/v1/chat/completions", escaped)).status).toBe(200);
    const esent = await forwardedText(emarker);
    expect(esent).not.toContain("\\u0072");
    expect(JSON.parse(esent).messages[0].role).toBe("user");
    // One object with 200,000 keys (a client picks the shape): each key is checked against a Set, in one pass.
    const many = `{"metadata":{${Array.from({ length: 200_000 }, (_, i) => `"k${i}":0`).join(",")}}}`;
    expect(hasDuplicateKeys(many)).toBe(false);
    expect(hasDuplicateKeys(many.replace('"k199999":0', '"k0":1'))).toBe(true);
  });

  it("a `stream` that is not true or false is refused (a lenient provider might stream what is priced as a whole answer)", async () => {
    const u = await proxyUser();
    const send = (stream: unknown) => post(u.key, "/v1/chat/completions", { ...chat("hi", { max_tokens: 20 }), stream });
    for (const odd of [1, "true"]) {
      const r = await send(odd);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { param: string } }).error.param).toBe("stream");
    }
    expect((await send(false)).status).toBe(200); // control
  });

  it("a provider's 401/403/404 is the platform's problem: a 502, never the provider's words; its 400 is the client's and passes", async () => {
    const u = await proxyUser();
    const send = (text: string) => post(u.key, "/v1/chat/completions", chat(text, { max_tokens: 20 }));
    for (const status of [401, 403, 404]) {
      const r = await send(`[[fail:${status}]]`);
      expect(r.status).toBe(502);
      const body = await r.text();
      expect(body).toContain("upstream_unavailable");
      expect(body).not.toContain("(stand-in)");
    }
    const passed = await send("[[fail:400]]"); // control: the same path, a client fault
    expect(passed.status).toBe(400);
    expect(await passed.text()).toContain("upstream failure 400 (stand-in)");
  });

  it("the Anthropic SDK's countTokens is answered free, with the key checked", async () => {
    const u = await proxyUser();
    const counted = await anthropic(u.key).messages.countTokens({
      model: "claude-haiku-4-5",
      messages: [{ role: "user", content: "how many tokens is this?" }],
    });
    expect(counted.input_tokens).toBeGreaterThan(0);
    const auto = await anthropic(u.key).messages.countTokens({ model: "auto", messages: [{ role: "user", content: "hi" }] });
    expect(auto.input_tokens).toBeGreaterThan(0);
    expect(await u.account.getBalance()).toMatchObject({ reserved: 0, balance: 1_000_000 });
    expect((await u.account.listLedger()).filter((e) => e.kind === "debit:usage")).toHaveLength(0);
    const forged = await anthropic(u.key.slice(0, -6) + "AAAAAA")
      .messages.countTokens({ model: "claude-haiku-4-5", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(forged.status).toBe(401);
    const server = await anthropic(u.key)
      .messages.countTokens({
        model: "claude-haiku-4-5",
        messages: [{ role: "user", content: "x" }],
        tools: [{ type: "web_search_20250305", name: "web_search" }] as never,
      })
      .catch((e) => e);
    expect(server.status).toBe(400);
  });

  it("models are listed and looked up in each SDK's shape", async () => {
    const u = await proxyUser();
    const one = await openai(u.key).models.retrieve("gpt-4.1-mini");
    expect(one).toMatchObject({ id: "gpt-4.1-mini", object: "model" });
    expect(
      await openai(u.key)
        .models.retrieve("gpt-99")
        .catch((e) => e),
    ).toBeInstanceOf(OpenAI.NotFoundError);
    const list = [];
    for await (const m of anthropic(u.key).models.list()) list.push(m.id);
    expect(list).toContain("claude-sonnet-4-5");
    expect(await anthropic(u.key).models.retrieve("claude-haiku-4-5")).toMatchObject({ id: "claude-haiku-4-5", type: "model" });
  });
});
