import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { withMarkup } from "@oc/contracts/money";
import { findModel, MODELS, type ModelInfo } from "../src/proxy/catalog";
import { debits, proxyUser } from "./proxy-helpers";

/**
 * Property: whatever valid request a client sends, the price charged is at least the provider's list price
 * for the usage the provider reports (reasoning, cached and cache-write tokens, n choices, priority tier,
 * images and PDFs included), and no more than the call's hold. Bodies are random but seeded, so a failure
 * names a seed and body that reproduce it. The LLM stand-in reports exactly the usage a `[[usage:…]]`
 * directive in the body says (test-harness/stand-ins/llm.ts).
 */

/** mulberry32: small, fast, seeded. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]) => xs[int(0, xs.length - 1)]!;
  const chance = (p: number) => next() < p;
  return { int, pick, chance };
}
type Rng = ReturnType<typeof prng>;

/**
 * The providers' published prices: the catalog's per-token prices (cache writes at its write price, one-hour
 * writes at 2× input as Anthropic lists them), priority ~1.75× (OpenAI), flex 0.5×.
 */
function listedWholesale(m: ModelInfo, u: Usage): number {
  const tier = u.tier === "priority" ? 1.75 : u.tier === "flex" ? 0.5 : 1;
  const plain = u.in - u.cached - u.w5m - u.w1h;
  const micros = (plain * m.inputPer1M + u.cached * m.cachedPer1M + u.w5m * m.cacheWritePer1M + u.w1h * m.inputPer1M * 2 + u.out * m.outputPer1M) / 1_000_000;
  return micros * tier;
}

interface Usage {
  in: number;
  out: number;
  cached: number;
  reasoning: number;
  w5m: number;
  w1h: number;
  tier?: string;
}

const directive = (u: Usage) =>
  `[[usage:in=${u.in},out=${u.out},cached=${u.cached},reasoning=${u.reasoning},w5m=${u.w5m},w1h=${u.w1h}${u.tier ? `,tier=${u.tier}` : ""}]]`;
const words = (r: Rng, n: number) => Array.from({ length: n }, () => r.pick(["alpha", "beta", "tool", "plan", "x", "résumé", "数据", "{}", '"q"'])).join(" ");
const TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const TINY_PDF = btoa(
  "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF",
);
/** Most tokens an image costs on the catalog's models (gpt-4.1-nano: 1536 patches × 2.46). */
const IMAGE_MAX_TOKENS = 3_779;

/** Every model the catalog sells, named (the router's own choices are covered through these). */
const OPENAI_MODELS = MODELS.filter((m) => m.api === "openai").map((m) => m.id);
const ANTHROPIC_MODELS = MODELS.filter((m) => m.api === "anthropic").map((m) => m.id);
const REASONING = (id: string) => /^(o\d|gpt-([5-9]|\d\d))/.test(id);

type Case = { path: string; body: Record<string, unknown>; usage?: Usage; stream: boolean; headers: Record<string, string> };

/** Random usage the provider could report for a request: within its input and output bounds. */
function usageFor(r: Rng, inBound: number, outBound: number, opts: { reasoning: boolean; cacheWrite: "none" | "5m" | "1h"; tier?: string }): Usage {
  const input = r.int(1, Math.max(1, inBound));
  const out = r.int(0, Math.max(0, outBound));
  const cached = r.chance(0.5) ? r.int(0, input) : 0;
  const writable = input - cached;
  const w1h = opts.cacheWrite === "1h" ? r.int(0, writable) : 0;
  const w5m = opts.cacheWrite !== "none" ? r.int(0, writable - w1h) : 0;
  return { in: input, out, cached, reasoning: opts.reasoning ? r.int(0, out) : 0, w5m, w1h, tier: opts.tier };
}

function chatCase(r: Rng): Case {
  const model = r.pick(OPENAI_MODELS);
  const m = findModel(model)!;
  const images = r.chance(0.3) ? r.int(1, 2) : 0;
  const pdf = r.chance(0.15);
  const parts: unknown[] = [{ type: "text", text: words(r, r.int(1, 300)) }];
  for (let i = 0; i < images; i++)
    parts.push({ type: "image_url", image_url: { url: `data:image/png;base64,${TINY_PNG}`, detail: r.pick(["low", "high", "auto"]) } });
  if (pdf) parts.push({ type: "file", file: { filename: "a.pdf", file_data: `data:application/pdf;base64,${TINY_PDF}` } });
  const history = Array.from({ length: r.int(0, 3) }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: words(r, r.int(1, 200)) }));
  const n = r.chance(0.3) ? r.int(1, 4) : undefined;
  const maxOut = r.chance(0.8) ? r.int(1, 4000) : undefined;
  const serviceTier = r.pick([undefined, "auto", "default", "flex", "priority"] as const);
  const stream = r.chance(0.5);
  const body: Record<string, unknown> = {
    model,
    messages: [{ role: "system", content: words(r, r.int(1, 100)) }, ...history, { role: "user", content: parts }],
    ...(maxOut ? { [r.chance(0.5) ? "max_tokens" : "max_completion_tokens"]: maxOut } : {}),
    ...(n ? { n } : {}),
    ...(serviceTier ? { service_tier: serviceTier } : {}),
    ...(REASONING(model) && r.chance(0.7) ? { reasoning_effort: r.pick(["low", "medium", "high"]) } : {}),
    ...(r.chance(0.4)
      ? {
          tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } } } } }],
          tool_choice: "auto",
        }
      : {}),
    ...(r.chance(0.3) ? { temperature: r.int(0, 10) / 10, prompt_cache_key: "k", store: false } : {}),
    ...(stream ? { stream: true, ...(r.chance(0.5) ? { stream_options: { include_usage: true } } : {}) } : {}),
  };
  const bytes = JSON.stringify(body).length;
  const tier = serviceTier === "priority" ? "priority" : serviceTier === "flex" ? "flex" : "default";
  const usage = usageFor(r, pdf ? 100_000 : bytes + images * IMAGE_MAX_TOKENS, (n ?? 1) * Math.min(maxOut ?? 4000, m.maxOutput), {
    reasoning: REASONING(model),
    cacheWrite: "none",
    tier,
  });
  parts[0] = { type: "text", text: `${(parts[0] as { text: string }).text} ${directive(usage)}` };
  return { path: "/v1/chat/completions", body, usage, stream, headers: {} };
}

function responsesCase(r: Rng): Case {
  const model = r.pick(OPENAI_MODELS);
  const m = findModel(model)!;
  const images = r.chance(0.3) ? r.int(1, 2) : 0;
  const pdf = r.chance(0.15);
  const maxOut = r.chance(0.8) ? r.int(16, 4000) : undefined;
  const serviceTier = r.pick([undefined, "auto", "flex", "priority"] as const);
  const stream = r.chance(0.5);
  const content: Record<string, unknown>[] = [{ type: "input_text", text: words(r, r.int(1, 300)) }];
  for (let i = 0; i < images; i++) content.push({ type: "input_image", image_url: `data:image/png;base64,${TINY_PNG}`, detail: "high" });
  if (pdf) content.push({ type: "input_file", filename: "a.pdf", file_data: `data:application/pdf;base64,${TINY_PDF}` });
  const body: Record<string, unknown> = {
    model,
    instructions: words(r, r.int(1, 100)),
    input: [{ role: "user", content }],
    ...(maxOut ? { max_output_tokens: maxOut } : {}),
    ...(serviceTier ? { service_tier: serviceTier } : {}),
    ...(REASONING(model) ? { reasoning: { effort: r.pick(["low", "high"]) }, include: ["reasoning.encrypted_content"] } : {}),
    ...(r.chance(0.4) ? { tools: [{ type: "function", name: "lookup", parameters: { type: "object", properties: {} } }] } : {}),
    ...(stream ? { stream: true } : {}),
  };
  const bytes = JSON.stringify(body).length;
  const tier = serviceTier === "priority" ? "priority" : serviceTier === "flex" ? "flex" : "default";
  const usage = usageFor(r, pdf ? 100_000 : bytes + images * IMAGE_MAX_TOKENS, Math.min(maxOut ?? 4000, m.maxOutput), {
    reasoning: REASONING(model),
    cacheWrite: "none",
    tier,
  });
  content[0]!.text = `${content[0]!.text as string} ${directive(usage)}`;
  return { path: "/v1/responses", body, usage, stream, headers: {} };
}

function messagesCase(r: Rng): Case {
  const model = r.pick(ANTHROPIC_MODELS);
  const images = r.chance(0.3) ? r.int(1, 2) : 0;
  const pdf = r.chance(0.15);
  const cacheWrite = r.pick(["none", "5m", "1h"] as const);
  const maxTokens = r.int(1, 4000);
  const thinking = maxTokens > 2048 && r.chance(0.5);
  const stream = r.chance(0.5);
  const blocks: Record<string, unknown>[] = [{ type: "text", text: words(r, r.int(1, 300)) }];
  for (let i = 0; i < images; i++) blocks.push({ type: "image", source: { type: "base64", media_type: "image/png", data: TINY_PNG } });
  if (pdf) blocks.push({ type: "document", source: { type: "base64", media_type: "application/pdf", data: TINY_PDF } });
  const system =
    cacheWrite === "none"
      ? words(r, r.int(1, 100))
      : [{ type: "text", text: words(r, r.int(1, 100)), cache_control: cacheWrite === "1h" ? { type: "ephemeral", ttl: "1h" } : { type: "ephemeral" } }];
  const body: Record<string, unknown> = {
    model,
    max_tokens: maxTokens,
    system,
    messages: [{ role: "user", content: blocks }],
    ...(thinking ? { thinking: { type: "enabled", budget_tokens: 1024 } } : {}),
    ...(r.chance(0.4) ? { tools: [{ name: "lookup", input_schema: { type: "object", properties: {} } }] } : {}),
    ...(r.chance(0.3) ? { service_tier: "standard_only" } : {}),
    ...(stream ? { stream: true } : {}),
  };
  const bytes = JSON.stringify(body).length;
  const usage = usageFor(r, pdf ? 100_000 : bytes + images * IMAGE_MAX_TOKENS, maxTokens, { reasoning: false, cacheWrite, tier: "standard" });
  blocks[0]!.text = `${blocks[0]!.text as string} ${directive(usage)}`;
  return { path: "/v1/messages", body, usage, stream, headers: { "anthropic-version": "2023-06-01" } };
}

function embeddingsCase(r: Rng): Case {
  const input = r.chance(0.5) ? words(r, r.int(1, 400)) : Array.from({ length: r.int(1, 5) }, () => words(r, r.int(1, 100)));
  return {
    path: "/v1/embeddings",
    body: { model: "text-embedding-3-small", input, ...(r.chance(0.3) ? { dimensions: 256 } : {}) },
    stream: false,
    headers: {},
  };
}

const post = (key: string, c: Case) =>
  exports.default.fetch(
    new Request(`http://localhost${c.path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "x-api-key": key, "content-type": "application/json", ...c.headers },
      body: JSON.stringify(c.body),
    }),
  );

describe("the price charged is never below the provider's listed price", () => {
  it("random valid requests on every endpoint, stream and not: list price ≤ charge ≤ hold", async () => {
    const SEED = 20261201;
    const PER_WORKER = 12;
    const makers = [chatCase, responsesCase, messagesCase, embeddingsCase];
    // One user per worker (calls of one user run in order, so each debit belongs to one known call).
    await Promise.all(
      makers.flatMap((make, w) =>
        [0, 1].map(async (lane) => {
          const r = prng(SEED + w * 101 + lane);
          const u = await proxyUser(500_000_000);
          for (let i = 0; i < PER_WORKER; i++) {
            const c = make(r);
            const where = `seed ${SEED + w * 101 + lane}, call ${i}: ${JSON.stringify(c.body).slice(0, 400)}`;
            const res = await post(u.key, c);
            const text = await res.text();
            expect(res.status, `${where} → ${text.slice(0, 300)}`).toBe(200);
            const model =
              findModel(res.headers.get("x-oc-model") ?? "") ??
              ({ id: "text-embedding-3-small", api: "openai", inputPer1M: 20_000, outputPer1M: 0, cachedPer1M: 0, cacheWritePer1M: 20_000 } as ModelInfo);
            const usage = c.usage ?? {
              in: (JSON.parse(text) as { usage: { prompt_tokens: number } }).usage.prompt_tokens,
              out: 0,
              cached: 0,
              reasoning: 0,
              w5m: 0,
              w1h: 0,
            };
            const charged = -(await debits(u.account, i + 1))[0]!.amount;
            const listed = listedWholesale(model, usage);
            expect(charged, where).toBeGreaterThanOrEqual(Math.ceil(listed));
            expect(charged, where).toBeGreaterThanOrEqual(withMarkup(Math.ceil(listed), 2000)); // and the markup on top
          }
          expect((await u.account.getBalance()).reserved).toBe(0);
          // Every charge fitted in its hold: none was flagged as above it.
          const flagged = (await u.account.listActivity(200)).filter((a) => a.message.includes("more than was held"));
          expect(flagged).toEqual([]);
        }),
      ),
    );
  }, 120_000);

  it("a client that aborts a reasoning model's stream is charged the reasoning the provider reports after", async () => {
    for (const c of [
      {
        path: "/v1/chat/completions",
        model: "o4-mini",
        body: (t: string) => ({ model: "o4-mini", stream: true, max_completion_tokens: 8000, messages: [{ role: "user", content: t }] }),
      },
      {
        path: "/v1/responses",
        model: "o4-mini",
        body: (t: string) => ({ model: "o4-mini", stream: true, max_output_tokens: 8000, reasoning: { effort: "high" }, input: t }),
      },
      {
        path: "/v1/messages",
        model: "claude-sonnet-4-5",
        body: (t: string) => ({
          model: "claude-sonnet-4-5",
          stream: true,
          max_tokens: 8000,
          thinking: { type: "enabled", budget_tokens: 4000 },
          messages: [{ role: "user", content: t }],
        }),
      },
    ]) {
      const u = await proxyUser();
      const usage: Usage = { in: 500, out: 6000, cached: 100, reasoning: 5800, w5m: 0, w1h: 0 };
      const res = await post(u.key, { path: c.path, body: c.body(`[[chunks:40]] [[slow:15]] think ${directive(usage)}`), stream: true, headers: {} });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      for (let i = 0; i < 3; i++) await reader.read();
      await reader.cancel("the user closed the tab");
      const [debit] = await debits(u.account, 1, 10_000);
      const listed = listedWholesale(findModel(c.model)!, usage);
      expect(-debit!.amount, c.path).toBeGreaterThanOrEqual(Math.ceil(listed)); // the 5,800 hidden tokens are paid for
      expect((await debits(u.account, 1)).length).toBe(1); // and charged once
      expect((await u.account.getBalance()).reserved).toBe(0);
    }
  }, 30_000);

  it("an abandoned reasoning stream that never reports usage is charged its hold, not its visible text", async () => {
    const u = await proxyUser();
    const res = await post(u.key, {
      path: "/v1/chat/completions",
      body: {
        model: "o4-mini",
        stream: true,
        max_completion_tokens: 2000,
        messages: [{ role: "user", content: "[[chunks:40]] [[slow:10]] [[break:8]] think" }],
      },
      stream: true,
      headers: {},
    });
    const reader = res.body!.getReader();
    for (let i = 0; i < 3; i++) await reader.read();
    await reader.cancel();
    const [debit] = await debits(u.account, 1, 10_000);
    // Positive control: the same stream read to its (estimated) end by a non-reasoning model costs only its text.
    const m = findModel("o4-mini")!;
    const bodyBytes = JSON.stringify({
      model: "o4-mini",
      stream: true,
      max_completion_tokens: 2000,
      messages: [{ role: "user", content: "[[chunks:40]] [[slow:10]] [[break:8]] think" }],
    }).length;
    const outputListed = (2000 * m.outputPer1M) / 1_000_000;
    expect(-debit!.amount).toBeGreaterThanOrEqual(Math.ceil(outputListed + (bodyBytes * m.inputPer1M) / 1_000_000));
    const plain = await proxyUser();
    const res2 = await post(plain.key, {
      path: "/v1/chat/completions",
      body: {
        model: "gpt-4.1-nano",
        stream: true,
        max_completion_tokens: 2000,
        messages: [{ role: "user", content: "[[chunks:40]] [[slow:10]] [[break:8]] think" }],
      },
      stream: true,
      headers: {},
    });
    const r2 = res2.body!.getReader();
    for (let i = 0; i < 3; i++) await r2.read();
    await r2.cancel();
    const [small] = await debits(plain.account, 1, 10_000);
    expect(-small!.amount).toBeLessThan(withMarkup(Math.ceil((2000 * findModel("gpt-4.1-nano")!.outputPer1M) / 1_000_000), 2000));
  }, 30_000);
});
