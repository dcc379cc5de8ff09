import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { modelCatalogs, users, usageRecords } from "@oc/db/schema";
import { SEED_CATALOG, SEED_VIEW, catalogSchema, tierRank, type Catalog } from "../src/proxy/catalog";
import { resetCatalogCache } from "../src/proxy/catalog-store";
import { wholesaleMicros } from "../src/proxy/pricing";
import { classifyText, loadWeights, modelVersion } from "../src/proxy/routing/classifier";
import { readConversation } from "../src/proxy/routing/conversation";
import { badAnswer } from "../src/proxy/routing/escalation";
import { HASH_BITS } from "../src/proxy/routing/features";
import { PIN_TTL_MS, pickRoute, planRoute, type Pin } from "../src/proxy/routing/plan";
import { call, signup, withDb } from "./helpers";
import { anthropic, debits, openai, proxyUser } from "./proxy-helpers";
import { poll } from "../../test-harness/poll";

const TASK = "Write a Python function that merges overlapping intervals, and add unit tests for the edge cases.";
const tools = [
  {
    type: "function",
    function: { name: "exec", description: "run a shell command", parameters: { type: "object", properties: { command: { type: "string" } } } },
  },
];

describe("the classifier inside workerd", () => {
  it("loads its int8 weights from the bundled module and answers the same way every time", () => {
    const w = loadWeights();
    expect(w.length).toBe(4 << HASH_BITS); // four classes over the hashed feature space
    expect(w.some((x) => x !== 0)).toBe(true);
    expect(loadWeights()).toBe(w); // decoded once per isolate
    const a = classifyText(TASK);
    for (let i = 0; i < 5; i++) expect(classifyText(TASK)).toEqual(a);
    expect(a.probs.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 6);
    expect(a.tier).toBe("complex");
    expect(modelVersion()).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe("what the router reads of a conversation", () => {
  it("an Anthropic tool_result turn is the tool loop, not a person: the task is the last human text", () => {
    const c = readConversation({
      system: "You are OpenClaw.",
      messages: [
        { role: "user", content: [{ type: "text", text: TASK }] },
        { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "exec", input: { command: "pytest" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "hi" }] }] },
      ],
    });
    expect(c.kind).toBe("tool");
    expect(c.human).toBe(TASK);
    expect(c.toolSteps).toBe(1);
    // Positive control: the same message as a person's text is a human turn.
    expect(readConversation({ messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] }).kind).toBe("human");
  });

  it("OpenClaw's runtime-context blocks (and context-only messages) are the agent talking, not the person", () => {
    const ctx = (s: string) =>
      `<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\n${s}\n<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>nested<<<END_OPENCLAW_INTERNAL_CONTEXT>>>\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>`;
    const c = readConversation({
      messages: [
        { role: "user", content: TASK },
        { role: "assistant", content: "Done." },
        { role: "user", content: ctx("Current time: 09:30. Memory: the user likes Python. Write a migration plan for the database.") },
        { role: "user", content: `${ctx("Channel: telegram. Recent files: src/app.ts")}\nthanks!` },
      ],
    });
    expect(c.human).toBe("thanks!");
    expect(c.previousHuman).toBe(TASK); // the context-only message is skipped
    expect(
      planRoute("openai", { messages: [{ role: "user", content: `${ctx("Write a long report on everything")}\nthanks!` }] }, SEED_VIEW, 500, 100).kind,
    ).toBe("ack");
  });

  it("an OpenAI role:tool (and Responses function_call_output) turn is the tool loop too", () => {
    const chat = readConversation({
      messages: [
        { role: "system", content: "You are OpenClaw." },
        { role: "user", content: TASK },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "exec", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "c1", content: "thanks" },
      ],
    });
    expect([chat.kind, chat.human]).toEqual(["tool", TASK]);
    const responses = readConversation({
      input: [
        { role: "user", content: TASK },
        { type: "function_call", call_id: "c1", name: "exec", arguments: "{}" },
        { type: "function_call_output", call_id: "c1", output: "thanks" },
      ],
    });
    expect([responses.kind, responses.human]).toEqual(["tool", TASK]);
    // The tool output ("thanks") would have routed as an acknowledgement: it must not be read.
    const plan = planRoute(
      "openai",
      {
        messages: [
          { role: "user", content: TASK },
          { role: "assistant", content: "…" },
          { role: "tool", tool_call_id: "c1", content: "thanks" },
        ],
      },
      SEED_VIEW,
      2000,
      1000,
    );
    expect(plan.kind).toBe("tool");
    expect(plan.proposed).toBe("complex");
  });
});

describe("pinning rules (pure)", () => {
  const plan = (content: string, extra: unknown[] = []) =>
    planRoute(
      "openai",
      {
        messages: [
          { role: "system", content: "sys" },
          { role: "user", content: TASK },
          { role: "assistant", content: "done" },
          ...extra,
          { role: "user", content },
        ],
        tools,
      },
      SEED_VIEW,
      5000,
      1000,
    );
  const first = planRoute(
    "openai",
    {
      messages: [
        { role: "system", content: "sys" },
        { role: "user", content: TASK },
      ],
      tools,
    },
    SEED_VIEW,
    5000,
    1000,
  );
  const t0 = 1_000_000;

  it("a task's tier may move up within it and never down; a pause past the TTL starts afresh", () => {
    const start = pickRoute(first, undefined, t0);
    expect(start.tier).toBe("complex");
    const pin = start.pin!;
    const easy = plan("Please write a two-line poem about spring mornings for the card, nothing more than that, thank you kindly.");
    expect(tierRank(easy.proposed)).toBeLessThanOrEqual(tierRank("complex"));
    const kept = pickRoute(easy, pin, t0 + 60_000);
    expect(kept.tier).toBe("complex");
    expect(kept.model).toBe(pin.model);
    const up = pickRoute({ ...easy, proposed: "reasoning" }, pin, t0 + 60_000);
    expect(up.tier).toBe("reasoning");
    expect(up.pin!.tier).toBe("reasoning");
    // Positive control: the same easy message after the pin expired is routed on its own.
    const later = pickRoute(easy, pin, t0 + PIN_TTL_MS + 1);
    expect(later.tier).toBe(easy.proposed);
  });

  it("a tool loop keeps its model; heartbeats and thanks go cheap with tools attached and leave the pin alone", () => {
    const pin: Pin = { tier: "standard", model: "gpt-6.1-sol", at: t0 };
    const loop = planRoute(
      "openai",
      {
        messages: [
          { role: "system", content: "sys" },
          { role: "user", content: "Rename the files in my downloads folder by date" },
          { role: "assistant", content: null, tool_calls: [{ id: "a", type: "function", function: { name: "exec", arguments: "{}" } }] },
          { role: "tool", tool_call_id: "a", content: "ok" },
        ],
        tools,
      },
      SEED_VIEW,
      5000,
      1000,
    );
    expect(loop.kind).toBe("tool");
    expect(pickRoute(loop, pin, t0 + 10_000).model).toBe("gpt-6.1-sol");
    const cheap = SEED_VIEW.candidatesFor("openai", "simple")[0]!.id;
    for (const text of ["thanks!", "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. If nothing needs attention, reply HEARTBEAT_OK."]) {
      const c = pickRoute(plan(text), pin, t0 + 40 * 60_000);
      expect([c.tier, c.model, c.pin]).toEqual(["simple", cheap, undefined]);
    }
    // A follow-up inherits the task's tier even with no pin at all (the task text is in the history).
    expect(tierRank(plan("Can you parallelize it?").proposed)).toBeGreaterThanOrEqual(tierRank("complex"));
  });

  it("prefers the model holding the conversation's cached prefix when staying is cheaper", () => {
    const big = "x".repeat(200_000);
    const p = planRoute(
      "anthropic",
      {
        system: big,
        messages: [
          { role: "user", content: TASK },
          { role: "assistant", content: "done" },
          { role: "user", content: "Thanks, now also handle an empty list and explain the complexity in two lines." },
        ],
      },
      SEED_VIEW,
      210_000,
      1000,
    );
    const warm: Pin = { tier: "standard", model: "claude-opus-5-5", at: t0 };
    const c = pickRoute({ ...p, proposed: "complex" }, warm, t0 + 60_000);
    const opus = p.options.find((o) => o.model === "claude-opus-5-5")!;
    const sonnet = p.options.find((o) => o.model === "claude-sonnet-5-5")!;
    expect(opus.warm).toBeLessThan(sonnet.cold); // 50k cached tokens on Opus cost less than writing them on Sonnet
    expect(c.model).toBe("claude-opus-5-5");
    // Positive control: with the cache gone (past its lifetime), the cheaper capable model wins.
    expect(pickRoute({ ...p, proposed: "complex" }, warm, t0 + 20 * 60_000).model).toBe("claude-sonnet-5-5");
  });

  it("detects bad answers in every format (and leaves good ones alone)", () => {
    expect(badAnswer("openai", { choices: [{ message: { content: "" }, finish_reason: "stop" }] })).toBe("empty answer");
    expect(
      badAnswer("openai", {
        choices: [{ message: { content: null, tool_calls: [{ function: { name: "x", arguments: "{oops" } }] }, finish_reason: "tool_calls" }],
      }),
    ).toBe("malformed tool call");
    expect(badAnswer("openai", { choices: [{ message: { content: null, refusal: "I can't help with that." }, finish_reason: "stop" }] })).toBe(
      "the model refused",
    );
    expect(badAnswer("anthropic", { type: "message", content: [], stop_reason: "end_turn" })).toBe("empty answer");
    expect(badAnswer("anthropic", { type: "message", content: [{ type: "text", text: "no" }], stop_reason: "refusal" })).toBe("the model refused");
    expect(badAnswer("openai", { object: "response", output: [{ type: "function_call", arguments: "[" }] })).toBe("malformed tool call");
    expect(badAnswer("openai", { choices: [{ message: { content: "Hello" }, finish_reason: "stop" }] })).toBeUndefined();
    expect(badAnswer("openai", { choices: [{ message: { content: null, tool_calls: [{ function: { name: "x", arguments: "{}" } }] } }] })).toBeUndefined();
    expect(
      badAnswer("anthropic", { type: "message", content: [{ type: "tool_use", id: "a", name: "x", input: {} }], stop_reason: "tool_use" }),
    ).toBeUndefined();
  });
});

describe("catalog validation", () => {
  const edit = (f: (c: Catalog) => void) => {
    const c = structuredClone(SEED_CATALOG);
    f(c);
    return catalogSchema.safeParse(c);
  };
  it("accepts the seed and refuses duplicates, a cached price above input, bad dates and a format without a reasoning model", () => {
    expect(catalogSchema.safeParse(SEED_CATALOG).success).toBe(true);
    expect(edit((c) => c.models.push({ ...c.models[0]! })).success).toBe(false);
    expect(edit((c) => (c.models[0]!.cachedPer1M = c.models[0]!.inputPer1M + 1)).success).toBe(false);
    expect(edit((c) => (c.models[0]!.priceDate = "yesterday")).success).toBe(false);
    expect(edit((c) => (c.models[0]!.inputPer1M = -1)).success).toBe(false);
    expect(edit((c) => (c.models = c.models.filter((m) => !(m.api === "openai" && m.maxTier === "reasoning" && m.auto)))).success).toBe(false);
    expect(edit((c) => (c.models[0]!.priceSource = "not a url")).success).toBe(false);
  });
});

describe("through the proxy and the user's Durable Object", () => {
  it("pins a conversation's tier across calls and formats, keeps the tool loop's model, and records reason and price version", async () => {
    const u = await proxyUser(50_000_000);
    const msgs = [
      { role: "system" as const, content: "You are OpenClaw." },
      { role: "user" as const, content: TASK },
    ];
    const a = await openai(u.key)
      .chat.completions.create({ model: "auto", messages: msgs, tools: tools as never })
      .withResponse();
    const tier = a.response.headers.get("x-oc-tier")!;
    const model = a.response.headers.get("x-oc-model")!;
    expect(tier).toBe("complex");
    const b = await openai(u.key)
      .chat.completions.create({
        model: "auto",
        messages: [
          ...msgs,
          { role: "assistant", content: "Here it is." },
          { role: "user", content: "Please write a two-line poem about spring mornings for the card, nothing more than that, thank you kindly." },
        ],
      })
      .withResponse();
    expect(tierRank(b.response.headers.get("x-oc-tier") as never)).toBeGreaterThanOrEqual(tierRank("complex"));
    expect(b.response.headers.get("x-oc-model")).toBe(model);

    // Anthropic tool loop: the tool_result carries no human text; the call keeps the task's model.
    const task = [{ role: "user" as const, content: TASK }];
    const first = await anthropic(u.key)
      .messages.create({ model: "auto", max_tokens: 100, system: "You are OpenClaw, on Claude.", messages: task })
      .withResponse();
    const loop = await anthropic(u.key)
      .messages.create({
        model: "auto",
        max_tokens: 100,
        system: "You are OpenClaw, on Claude.",
        messages: [
          ...task,
          { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "exec", input: { command: "pytest" } }] },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "ok" }] },
        ],
      })
      .withResponse();
    expect(loop.response.headers.get("x-oc-model")).toBe(first.response.headers.get("x-oc-model"));
    expect(loop.response.headers.get("x-oc-tier")).toBe(first.response.headers.get("x-oc-tier"));

    const convs = await u.account.routeConversations();
    expect(convs.length).toBe(2);
    // "Use the best model" for the OpenAI conversation: the next call gets the strongest model.
    const openaiConv = convs.find((c) => c.model === model)!;
    expect(await u.account.setConversationBest(openaiConv.key, true)).toBe(true);
    const best = await openai(u.key)
      .chat.completions.create({
        model: "auto",
        messages: [...msgs, { role: "assistant", content: "Here it is." }, { role: "user", content: "ok, and the other one?" }],
      })
      .withResponse();
    expect(best.response.headers.get("x-oc-model")).toBe(SEED_VIEW.strongest("openai").id);

    await debits(u.account, 5);
    const rows = await poll(
      () => withDb((db) => db.select().from(usageRecords).where(eq(usageRecords.userId, u.userId))),
      (r) => r.length >= 5,
      { timeoutMs: 10_000 },
    );
    const live = (await withDb((db) => db.select({ v: modelCatalogs.version }).from(modelCatalogs))).reduce((a, r) => Math.max(a, r.v), 1);
    expect(rows.map((r) => r.priceVersion)).toEqual(rows.map(() => live));
    expect(rows.every((r) => (r.routeReason ?? "").startsWith("auto: "))).toBe(true);
    expect(rows.some((r) => /best model/.test(r.routeReason ?? ""))).toBe(true);

    // The Smart Router page: this month's choices, reasons and the saving against the strongest model.
    const rep = await call(`/api/agent/router/report?month=${new Date().toISOString().slice(0, 7)}`, { cookie: u.cookie });
    expect(rep.status).toBe(200);
    expect(rep.body.totals.calls).toBe(rows.length);
    expect(rep.body.totals.spentMicros).toBe(rows.reduce((t, r) => t + r.priceMicros, 0));
    expect(rep.body.totals.strongestMicros).toBeGreaterThan(rep.body.totals.spentMicros);
    expect(rep.body.byReason.map((r: { reason: string }) => r.reason)).toEqual(expect.arrayContaining(["classified complex", "tool loop of a complex task"]));
    expect((await call("/api/agent/router/report?month=2026-13", { cookie: u.cookie })).status).toBe(400);
    const list = await call("/api/agent/router/conversations", { cookie: u.cookie });
    expect(list.body.conversations).toHaveLength(2);
    // Another user cannot switch this user's conversation (the key is looked up in the caller's own object);
    // positive control: the owner can.
    const other = await signup();
    expect((await call(`/api/agent/router/conversations/${openaiConv.key}`, { method: "PUT", cookie: other.cookie, body: { best: false } })).status).toBe(404);
    const off = await call(`/api/agent/router/conversations/${openaiConv.key}`, { method: "PUT", cookie: u.cookie, body: { best: false } });
    expect(off.body).toEqual({ key: openaiConv.key, best: false });
  });

  it("retries a cheap model's empty answer once a tier up, charges both attempts and raises the conversation's tier", async () => {
    const u = await proxyUser(50_000_000);
    const cheap = SEED_VIEW.candidatesFor("openai", "simple")[0]!;
    const res = await openai(u.key)
      .chat.completions.create({
        model: "auto",
        messages: [{ role: "user", content: `Read HEARTBEAT.md if it exists. If nothing needs attention, reply HEARTBEAT_OK. [[empty-model:${cheap.id}]]` }],
      })
      .withResponse();
    const up = res.response.headers.get("x-oc-model")!;
    expect(up).not.toBe(cheap.id);
    expect(res.response.headers.get("x-oc-tier")).toBe("standard");
    expect(res.data.choices[0]!.message.content).toContain("You said");
    const [debit] = await debits(u.account, 1);
    const rows = await poll(
      () => withDb((db) => db.select().from(usageRecords).where(eq(usageRecords.userId, u.userId))),
      (r) => r.length > 0,
      { timeoutMs: 10_000 },
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.model).toBe(up);
    expect(rows[0]!.routeReason).toContain(`${cheap.id} gave a bad answer (empty answer), retried on ${up}`);
    // Both attempts were used and are charged (never below what the providers charge): more than the retry alone.
    const retryOnly = wholesaleMicros(SEED_VIEW.find(up)!, {
      inputTokens: res.data.usage!.prompt_tokens,
      outputTokens: res.data.usage!.completion_tokens,
      cachedTokens: 0,
    });
    expect(rows[0]!.costMicros).toBeGreaterThan(retryOnly);
    expect(-debit!.amount).toBe(rows[0]!.priceMicros);
    const pins = await u.account.routeConversations();
    expect(pins[0]!.tier).toBe("standard");
    // Positive control: without the marker, the same heartbeat stays on the cheap model.
    const plain = await openai(u.key)
      .chat.completions.create({
        model: "auto",
        messages: [{ role: "user", content: "Read HEARTBEAT.md if it exists. If nothing needs attention, reply HEARTBEAT_OK." }],
      })
      .withResponse();
    expect(plain.response.headers.get("x-oc-model")).toBe(cheap.id);
  });

  it("an operator publishes a new catalog version (validated) and the proxy bills at it without a deploy", async () => {
    const admin = await signup();
    await withDb((db) => db.update(users).set({ role: "admin" }).where(eq(users.id, admin.userId)));
    const got = await call("/api/admin/catalog", { cookie: admin.cookie });
    expect(got.status).toBe(200);
    const current = got.body.current as Catalog;
    const bad = await call("/api/admin/catalog", { method: "PUT", cookie: admin.cookie, body: { ...current, models: [...current.models, current.models[0]] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("VALIDATION_FAILED");
    const cheaper = current.models.map((m) =>
      m.id === "claude-opus-4-1" ? { ...m, inputPer1M: 1, outputPer1M: 2, cachedPer1M: 1, cacheWritePer1M: 1, priceDate: "2026-12-01" } : m,
    );
    const put = await call("/api/admin/catalog", {
      method: "PUT",
      cookie: admin.cookie,
      body: { note: "test price cut", models: cheaper, markupBps: current.markupBps },
    });
    expect(put.status).toBe(200);
    const version = put.body.version as number;
    expect(version).toBeGreaterThan(1);
    // Positive control for the permission: a normal user cannot publish.
    const user = await signup();
    expect((await call("/api/admin/catalog", { method: "PUT", cookie: user.cookie, body: { models: cheaper, markupBps: current.markupBps } })).status).toBe(
      403,
    );

    resetCatalogCache(); // a fresh isolate: the first call triggers the check, the next ones use the new version
    const u = await proxyUser(50_000_000);
    let n = 0;
    // (a model no other test uses, so suites running at the same time never see the test price)
    await anthropic(u.key).messages.create({ model: "claude-opus-4-1", max_tokens: 50, messages: [{ role: "user", content: "warm up" }] });
    await poll(
      async () => (await call("/api/admin/catalog", { cookie: admin.cookie })).body.versions[0].version,
      (v) => v === version,
    );
    const res = await poll(
      async () => {
        const r = await anthropic(u.key).messages.create({
          model: "claude-opus-4-1",
          max_tokens: 50,
          messages: [{ role: "user", content: `price check ${n++}` }],
        });
        const rows = await withDb((db) => db.select().from(usageRecords).where(eq(usageRecords.userId, u.userId)));
        return { r, rows };
      },
      (x) => x.rows.some((row) => row.priceVersion === version),
      { timeoutMs: 10_000 },
    );
    const row = res.rows.find((r) => r.priceVersion === version)!;
    expect(row.costMicros).toBe(
      wholesaleMicros(
        { inputPer1M: 1, outputPer1M: 2, cachedPer1M: 1, cacheWritePer1M: 1 },
        { inputTokens: row.inputTokens, outputTokens: row.outputTokens, cachedTokens: row.cachedTokens },
      ),
    );
    // Back to the seed prices for the other tests of this isolate.
    await call("/api/admin/catalog", { method: "PUT", cookie: admin.cookie, body: { note: "restore", models: current.models, markupBps: current.markupBps } });
  });
});
