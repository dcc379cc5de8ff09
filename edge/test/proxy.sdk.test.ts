import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withMarkup } from "@oc/contracts/money";
import { usageRecords } from "@oc/db/schema";
import { findModel } from "../src/proxy/catalog";
import { wholesaleMicros } from "../src/proxy/pricing";
import { withDb } from "./helpers";
import { anthropic, debits, openai, proxyUser } from "./proxy-helpers";
import { poll } from "../../test-harness/poll";

const price = (model: string, input: number, output: number, cached = 0) =>
  withMarkup(wholesaleMicros(findModel(model)!, { inputTokens: input, outputTokens: output, cachedTokens: cached }), 2000);

describe("official SDKs against the metering proxy", () => {
  it("openai: chat completion, charged exactly the listed price with markup, and recorded", async () => {
    const u = await proxyUser();
    const res = await openai(u.key).chat.completions.create({ model: "gpt-4.1-mini", messages: [{ role: "user", content: "hello there" }] });
    expect(res.choices[0]!.message.content).toContain("You said: hello there");
    const [debit] = await debits(u.account);
    const expected = price("gpt-4.1-mini", res.usage!.prompt_tokens, res.usage!.completion_tokens);
    expect(debit!.amount).toBe(-expected);
    expect((await u.account.getBalance()).balance).toBe(1_000_000 - expected);
    expect((await u.account.getBalance()).reserved).toBe(0);

    let rows: (typeof usageRecords.$inferSelect)[] = [];
    for (let i = 0; i < 200 && rows.length === 0; i++) {
      rows = await withDb((db) => db.select().from(usageRecords).where(eq(usageRecords.userId, u.userId)));
      if (!rows.length) await new Promise((r) => setTimeout(r, 50));
    }
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      model: "gpt-4.1-mini",
      provider: "openai",
      inputTokens: res.usage!.prompt_tokens,
      outputTokens: res.usage!.completion_tokens,
      priceMicros: expected,
      markupBps: 2000,
      background: "interactive",
    });
    expect(rows[0]!.costMicros).toBeLessThan(rows[0]!.priceMicros);
  });

  it("openai: streaming passes chunks through and the forced usage is charged", async () => {
    const u = await proxyUser();
    const stream = await openai(u.key).chat.completions.create({
      model: "gpt-4.1-nano",
      stream: true,
      messages: [{ role: "user", content: "[[chunks:8]] stream please" }],
    });
    let text = "";
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThanOrEqual(9);
    expect(text).toContain("[dev stand-in] word word");
    expect(usage).toBeDefined();
    const [debit] = await debits(u.account);
    expect(debit!.amount).toBe(-price("gpt-4.1-nano", usage!.prompt_tokens, usage!.completion_tokens));
  });

  it("anthropic: messages, non-stream and stream (cumulative usage counted once)", async () => {
    const u = await proxyUser();
    const client = anthropic(u.key);
    const msg = await client.messages.create({ model: "claude-haiku-4-5", max_tokens: 100, messages: [{ role: "user", content: "bonjour" }] });
    expect(msg.content[0]).toMatchObject({ type: "text" });
    const stream = client.messages.stream({ model: "claude-haiku-4-5", max_tokens: 100, messages: [{ role: "user", content: "[[chunks:6]] go" }] });
    const final = await stream.finalMessage();
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    const entries = await debits(u.account, 2);
    const amounts = entries.map((e) => -e.amount).sort((a, b) => a - b);
    const expected = [
      price("claude-haiku-4-5", msg.usage.input_tokens, msg.usage.output_tokens),
      price("claude-haiku-4-5", final.usage.input_tokens, final.usage.output_tokens),
    ].sort((a, b) => a - b);
    expect(amounts).toEqual(expected);
  });

  it("openai: the Responses API, non-stream and stream", async () => {
    const u = await proxyUser();
    const client = openai(u.key);
    const r = await client.responses.create({ model: "gpt-4.1-mini", input: "what is up" });
    expect(r.output_text).toContain("You said: what is up");
    const stream = await client.responses.create({ model: "gpt-4.1-mini", input: "[[chunks:5]] go", stream: true });
    let text = "";
    let usage: { input_tokens: number; output_tokens: number } | undefined;
    for await (const ev of stream) {
      if (ev.type === "response.output_text.delta") text += ev.delta;
      if (ev.type === "response.completed") usage = ev.response.usage ?? undefined;
    }
    expect(text).toContain("word word");
    const entries = await debits(u.account, 2);
    const amounts = entries.map((e) => -e.amount).sort((a, b) => a - b);
    expect(amounts).toEqual(
      [price("gpt-4.1-mini", r.usage!.input_tokens, r.usage!.output_tokens), price("gpt-4.1-mini", usage!.input_tokens, usage!.output_tokens)].sort(
        (a, b) => a - b,
      ),
    );
  });

  it("lists models, and meters embeddings", async () => {
    const u = await proxyUser();
    const client = openai(u.key);
    const models = [];
    for await (const m of client.models.list()) models.push(m.id);
    expect(models).toEqual(expect.arrayContaining(["auto", "gpt-4.1-nano", "claude-sonnet-4-5", "text-embedding-3-small"]));
    const emb = await client.embeddings.create({ model: "text-embedding-3-small", input: "remember the milk", dimensions: 8 });
    expect(emb.data[0]!.embedding).toHaveLength(8);
    await debits(u.account);
  });

  it("auto routes a short question to the cheapest model and records the reason", async () => {
    const u = await proxyUser(5_000_000); // auto may reserve for the strongest model
    const raw = await openai(u.key)
      .chat.completions.create({ model: "auto", messages: [{ role: "user", content: "hi!" }] })
      .withResponse();
    expect(raw.response.headers.get("x-oc-model")).toBe("gpt-6-luna");
    expect(raw.response.headers.get("x-oc-tier")).toBe("simple");
    const hard = await openai(u.key)
      .chat.completions.create({
        model: "auto",
        messages: [
          {
            role: "user",
            content:
              "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
          },
        ],
      })
      .withResponse();
    expect(hard.response.headers.get("x-oc-tier")).toBe("reasoning");
    expect(hard.response.headers.get("x-oc-model")).toBe("gpt-6-astra");
  });

  it("falls back to the next provider model on an upstream 5xx", async () => {
    const u = await proxyUser();
    const raw = await openai(u.key)
      .chat.completions.create({ model: "auto", messages: [{ role: "user", content: "Read HEARTBEAT.md if it exists. [[fail-model:gpt-6-luna:503]]" }] })
      .withResponse();
    expect(raw.response.headers.get("x-oc-model")).toBe("gpt-6.1-terra");
    expect(raw.data.choices[0]!.message.content).toContain("You said");
  });
});

describe("cross-provider fallback (a whole provider is down)", () => {
  it("an OpenAI-format conversation is answered by Anthropic, translated both ways, and metered at Anthropic's price", async () => {
    const u = await proxyUser(5_000_000); // auto may reserve for the strongest model
    const raw = await openai(u.key)
      .chat.completions.create({
        model: "gpt-6.1-terra",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "hello there [[fail-api:openai:503]]" },
        ],
      })
      .withResponse();
    expect(raw.response.headers.get("x-oc-model")).toBe("claude-haiku-5-5");
    expect(raw.data.object).toBe("chat.completion");
    expect(raw.data.choices[0]!.message.content).toContain("[dev stand-in] You said: hello there");
    expect(raw.data.choices[0]!.finish_reason).toBe("stop");
    expect(raw.data.usage!.completion_tokens).toBeGreaterThan(0);
    const [debit] = await debits(u.account, 1);
    const rows = await poll(
      () => withDb((db) => db.select().from(usageRecords).where(eq(usageRecords.userId, u.userId))),
      (r) => r.length > 0,
      { timeoutMs: 10_000 },
    );
    expect(rows[0]!.model).toBe("claude-haiku-5-5");
    expect(rows[0]!.provider).toBe("anthropic");
    expect(-debit!.amount).toBe(rows[0]!.priceMicros);
  });

  it("streams across formats too: OpenAI chunks out of an Anthropic stream, with usage", async () => {
    const u = await proxyUser(5_000_000); // auto may reserve for the strongest model
    const stream = await openai(u.key).chat.completions.create({
      model: "auto",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "stream please [[chunks:4]] [[fail-api:openai:503]]" }],
    });
    let text = "";
    let usage: { completion_tokens: number } | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("[dev stand-in] " + "word word word ".repeat(4));
    expect(finish).toBe("stop");
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    await debits(u.account, 1);
  });

  it("an Anthropic-format conversation is answered by OpenAI, streamed and not", async () => {
    const u = await proxyUser();
    const msg = await anthropic(u.key).messages.create({
      model: "claude-haiku-4-5",
      max_tokens: 100,
      system: "Be brief.",
      messages: [{ role: "user", content: "hi from claude land [[fail-api:anthropic:503]]" }],
    });
    expect(msg.type).toBe("message");
    expect(msg.model).toMatch(/^gpt-/);
    expect(msg.content[0]).toMatchObject({ type: "text", text: expect.stringContaining("You said: hi from claude land") });
    expect(msg.stop_reason).toBe("end_turn");

    const stream = anthropic(u.key).messages.stream({
      model: "claude-haiku-4-5",
      max_tokens: 100,
      messages: [{ role: "user", content: "again [[chunks:3]] [[fail-api:anthropic:503]]" }],
    });
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: "text", text: "[dev stand-in] " + "word word word ".repeat(3) });
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    await debits(u.account, 2);
  });

  it("requests with tools never cross (their semantics differ): the outage is reported as such", async () => {
    const u = await proxyUser(5_000_000); // auto may reserve for the strongest model
    const err = await openai(u.key)
      .chat.completions.create({
        model: "auto",
        messages: [{ role: "user", content: "use a tool [[fail-api:openai:503]]" }],
        tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: {} } } }],
      })
      .catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.message).toContain("model providers are unavailable");
  });
});
