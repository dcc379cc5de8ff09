import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withMarkup } from "../../contracts/src/money";
import { usageRecords } from "../src/db/schema";
import { findModel } from "../src/proxy/catalog";
import { wholesaleMicros } from "../src/proxy/pricing";
import { withDb } from "./helpers";
import { anthropic, debits, openai, proxyUser } from "./proxy-helpers";

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
    expect(rows[0]).toMatchObject({ model: "gpt-4.1-mini", provider: "openai", inputTokens: res.usage!.prompt_tokens, outputTokens: res.usage!.completion_tokens, priceMicros: expected, markupBps: 2000, background: "interactive" });
    expect(rows[0]!.costMicros).toBeLessThan(rows[0]!.priceMicros);
  });

  it("openai: streaming passes chunks through and the forced usage is charged", async () => {
    const u = await proxyUser();
    const stream = await openai(u.key).chat.completions.create({ model: "gpt-4.1-nano", stream: true, messages: [{ role: "user", content: "[[chunks:8]] stream please" }] });
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
    const expected = [price("claude-haiku-4-5", msg.usage.input_tokens, msg.usage.output_tokens), price("claude-haiku-4-5", final.usage.input_tokens, final.usage.output_tokens)].sort((a, b) => a - b);
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
    expect(amounts).toEqual([price("gpt-4.1-mini", r.usage!.input_tokens, r.usage!.output_tokens), price("gpt-4.1-mini", usage!.input_tokens, usage!.output_tokens)].sort((a, b) => a - b));
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
    const u = await proxyUser();
    const raw = await openai(u.key).chat.completions.create({ model: "auto", messages: [{ role: "user", content: "hi!" }] }).withResponse();
    expect(raw.response.headers.get("x-oc-model")).toBe("gpt-4.1-nano");
    expect(raw.response.headers.get("x-oc-tier")).toBe("simple");
    const hard = await openai(u.key)
      .chat.completions.create({ model: "auto", messages: [{ role: "user", content: "Prove step by step that the square root of 2 is irrational." }] })
      .withResponse();
    expect(hard.response.headers.get("x-oc-tier")).toBe("reasoning");
    expect(hard.response.headers.get("x-oc-model")).toBe("o4-mini");
  });

  it("falls back to the next provider model on an upstream 5xx", async () => {
    const u = await proxyUser();
    const raw = await openai(u.key)
      .chat.completions.create({ model: "auto", messages: [{ role: "user", content: "hey [[fail-model:gpt-4.1-nano:503]]" }] })
      .withResponse();
    expect(raw.response.headers.get("x-oc-model")).toBe("gpt-4.1-mini");
    expect(raw.data.choices[0]!.message.content).toContain("You said");
  });
});
