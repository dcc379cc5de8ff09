// Router evaluation: `npm run router:eval`. Routes labelled prompts and agent-shaped traces in both wire
// formats and prints accuracy, model-level under/over-routing, the confusion matrix, cost against the
// strongest model and against an oracle that always picks the labelled tier, model switches per
// conversation and decision time. Labels come from the sources (see scripts/router-train/README.md).
import { readFileSync } from "node:fs";
import { SEED_VIEW, TIERS, tierRank, type Api, type CatalogView, type ModelInfo, type Tier } from "../../edge/src/proxy/catalog";
import { wholesaleMicros } from "../../edge/src/proxy/pricing";
import { CACHE_TTL_MS, pickRoute, planRoute, type Pin } from "../../edge/src/proxy/routing/plan";
import { modelVersion } from "../../edge/src/proxy/routing/classifier";
import { generateTraces, systemPrompt, tools, type TraceCall } from "./traces";
import { NearDupIndex } from "../router-train/near-dup";

export interface Item {
  l: Tier;
  t: string[];
  s: string;
}
const loadJsonl = (file: string): Item[] =>
  readFileSync(new URL(file, import.meta.url), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
/** `own` is the report half of our own held-out set (odd rows): the even rows set the classifier's threshold. */
export const SETS = {
  public: () => loadJsonl("./public-holdout.jsonl"),
  own: () => loadJsonl("./own-holdout.jsonl").filter((_, i) => i % 2 === 1),
  ownAll: () => loadJsonl("./own-holdout.jsonl"),
};

const training = () =>
  readFileSync(new URL("../router-train/data/train.jsonl", import.meta.url), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Item);

/**
 * The honesty check: public held-out prompts (every turn) that the training data or our own held-out set
 * (whose development half sets the thresholds) copies, whole or nearly (near-dup.ts). Must be none.
 */
export function leaks(): { public: number; copies: { public: string; copy: string; in: string }[] } {
  const pub = SETS.public();
  const turns = pub.flatMap((i) => i.t);
  const index = new NearDupIndex(turns);
  const copies: { public: string; copy: string; in: string }[] = [];
  for (const [name, items] of [
    ["training", training()],
    ["own held-out", SETS.ownAll()],
  ] as const)
    for (const it of items)
      for (const t of it.t) {
        const m = index.match(t);
        if (m >= 0) copies.push({ public: turns[m]!, copy: t, in: `${name} (${it.s})` });
      }
  return { public: pub.length, copies };
}

/** Output tokens a turn produces, by what it is (the same whichever model answers). */
const OUTPUT: Record<Tier, number> = { simple: 120, standard: 500, complex: 1_200, reasoning: 2_500 };
const tok = (chars: number) => Math.ceil(chars / 4);

type Confusion = Record<Tier, Record<Tier, number>>;
const emptyConfusion = (): Confusion => Object.fromEntries(TIERS.map((t) => [t, Object.fromEntries(TIERS.map((u) => [u, 0]))])) as Confusion;

export interface Report {
  api: Api;
  n: number;
  accuracy: number;
  /** Tier level: routed below / above the label. */
  underTier: number;
  overTier: number;
  /** Model level: the chosen model cannot serve the label's tier / a costlier model than the label's was used. */
  underModel: number;
  overModel: number;
  confusion: Confusion;
  routed: number;
  baseline: number;
  oracle: number;
  baselineModel: string;
  /** 1 − routed / baseline, and the share of the oracle's saving the router keeps. */
  saved: number;
  oracleSaved: number;
  keptOfOracle: number;
  /** Traces only. */
  downgrades?: number;
  switchesPerConv?: number;
  taskSwitchesPerConv?: number;
  maxTaskSwitches?: number;
  convs?: number;
}

const labelModel = (view: CatalogView, api: Api, label: Tier) => view.candidatesFor(api, label)[0]!;

function score(view: CatalogView, api: Api, rows: { label: Tier; tier: Tier; model: ModelInfo }[]) {
  const confusion = emptyConfusion();
  let ok = 0,
    underT = 0,
    overT = 0,
    underM = 0,
    overM = 0;
  for (const r of rows) {
    confusion[r.label][r.tier]++;
    if (r.tier === r.label) ok++;
    else if (tierRank(r.tier) < tierRank(r.label)) underT++;
    else overT++;
    const want = labelModel(view, api, r.label);
    if (tierRank(r.model.maxTier) < tierRank(r.label)) underM++;
    else if (r.model.id !== want.id && r.model.outputPer1M > want.outputPer1M) overM++;
  }
  const n = rows.length;
  return { n, accuracy: ok / n, underTier: underT / n, overTier: overT / n, underModel: underM / n, overModel: overM / n, confusion };
}

/** An OpenClaw-shaped single-turn (or multi-turn, for MT-Bench's second turns) request for a prompt. */
function promptRequest(api: Api, item: Item, system: string) {
  const turns = item.t.flatMap((text, i) =>
    i < item.t.length - 1
      ? [
          { role: "user", content: text },
          { role: "assistant", content: "Here is my answer to that, in full detail. ".repeat(20) },
        ]
      : [{ role: "user", content: text }],
  );
  const t = tools();
  return api === "openai"
    ? {
        model: "auto",
        max_completion_tokens: 4096,
        tools: t.map((x) => ({ type: "function", function: x })),
        messages: [{ role: "system", content: system }, ...turns],
      }
    : {
        model: "auto",
        max_tokens: 4096,
        system,
        tools: t.map((x) => ({ name: x.name, description: x.description, input_schema: x.parameters })),
        messages: turns,
      };
}

/**
 * Prompt sets: each prompt is one call of an OpenClaw agent (system prompt, tools, its history), priced
 * with a cold cache for every model alike (the prompts are unrelated conversations).
 */
export function evaluatePrompts(api: Api, items: Item[], view: CatalogView = SEED_VIEW): Report {
  const system = systemPrompt();
  const baseline = view.strongest(api);
  const rows: { label: Tier; tier: Tier; model: ModelInfo }[] = [];
  let routed = 0,
    base = 0,
    oracle = 0;
  for (const item of items) {
    const body = promptRequest(api, item, system);
    const bytes = JSON.stringify(body).length;
    const plan = planRoute(api, body, view, bytes, 4096);
    const choice = pickRoute(plan, undefined, 0);
    const model = view.find(choice.model)!;
    rows.push({ label: item.l, tier: choice.tier, model });
    const input = tok(bytes);
    const usage = { inputTokens: input, cachedTokens: 0, cacheWriteTokens: input, outputTokens: OUTPUT[item.l] };
    routed += wholesaleMicros(model, usage);
    base += wholesaleMicros(baseline, usage);
    oracle += wholesaleMicros(labelModel(view, api, item.l), usage);
  }
  return finish(api, score(view, api, rows), routed, base, oracle, baseline.id);
}

function finish(api: Api, s: ReturnType<typeof score>, routed: number, baseline: number, oracle: number, baselineModel: string): Report {
  const saved = 1 - routed / baseline;
  const oracleSaved = 1 - oracle / baseline;
  return { api, ...s, routed, baseline, oracle, baselineModel, saved, oracleSaved, keptOfOracle: saved / oracleSaved };
}

/** Per-conversation prompt cache of each model: what it holds and when it was last used. */
class CacheSim {
  private readonly held = new Map<string, { tokens: number; at: number }>();
  price(m: ModelInfo, conv: number, at: number, input: number, prefix: number, out: number): number {
    const k = `${conv}:${m.id}`;
    const h = this.held.get(k);
    const cached = h && at - h.at < CACHE_TTL_MS ? Math.min(h.tokens, prefix) : 0;
    this.held.set(k, { tokens: input, at });
    return wholesaleMicros(m, { inputTokens: input, cachedTokens: cached, cacheWriteTokens: input - cached, outputTokens: out });
  }
}

const outputOf = (c: TraceCall) => (c.kind === "heartbeat" ? 20 : c.kind === "ack" ? 30 : c.final ? OUTPUT[c.label] : 150);

/**
 * Agent traces: every call goes through the router with the conversation's pin, as in production; cost
 * follows each model's prompt cache (a switch pays the whole prefix again, as a cache write).
 */
export function evaluateTraces(api: Api, calls: TraceCall[], view: CatalogView = SEED_VIEW): Report & { timings: number[] } {
  const baseline = view.strongest(api);
  const pins = new Map<string, Pin>();
  const caches = { routed: new CacheSim(), base: new CacheSim(), oracle: new CacheSim() };
  const rows: { label: Tier; tier: Tier; model: ModelInfo }[] = [];
  let routed = 0,
    base = 0,
    oracle = 0,
    downgrades = 0;
  const lastInTask = new Map<string, ModelInfo>();
  const lastModel = new Map<number, string>();
  const lastTaskModel = new Map<number, string>();
  const switches = new Map<number, number>();
  const taskSwitches = new Map<number, number>();
  const timings: number[] = [];
  for (const c of calls) {
    const body = c[api];
    const text = JSON.stringify(body);
    const t0 = performance.now();
    const plan = planRoute(api, body, view, text.length, 4096);
    const choice = pickRoute(plan, pins.get(plan.key), c.at);
    timings.push(performance.now() - t0);
    if (choice.pin) pins.set(plan.key, choice.pin);
    const model = view.find(choice.model)!;
    rows.push({ label: c.label, tier: choice.tier, model });
    const input = tok(text.length);
    const prefix = tok(plan.options.length ? text.length - JSON.stringify((body.messages as unknown[]).at(-1)).length : 0);
    routed += caches.routed.price(model, c.conv, c.at, input, prefix, outputOf(c));
    base += caches.base.price(baseline, c.conv, c.at, input, prefix, outputOf(c));
    oracle += caches.oracle.price(labelModel(view, api, c.label), c.conv, c.at, input, prefix, outputOf(c));
    if (c.task >= 0) {
      const k = `${c.conv}:${c.task}`;
      const prev = lastInTask.get(k);
      if (prev && tierRank(model.maxTier) < tierRank(prev.maxTier)) downgrades++;
      lastInTask.set(k, model);
      if (lastTaskModel.has(c.conv) && lastTaskModel.get(c.conv) !== model.id) taskSwitches.set(c.conv, (taskSwitches.get(c.conv) ?? 0) + 1);
      lastTaskModel.set(c.conv, model.id);
    }
    if (lastModel.has(c.conv) && lastModel.get(c.conv) !== model.id) switches.set(c.conv, (switches.get(c.conv) ?? 0) + 1);
    lastModel.set(c.conv, model.id);
  }
  const convs = new Set(calls.map((c) => c.conv)).size;
  const sum = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return {
    ...finish(api, score(view, api, rows), routed, base, oracle, baseline.id),
    downgrades,
    convs,
    switchesPerConv: sum(switches) / convs,
    taskSwitchesPerConv: sum(taskSwitches) / convs,
    maxTaskSwitches: Math.max(0, ...taskSwitches.values()),
    timings,
  };
}

export const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const usd = (micros: number) => `$${(micros / 1e6).toFixed(2)}`;
export function quantile(xs: number[], q: number) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function table(title: string, reports: Report[]) {
  console.log(`\n## ${title}`);
  console.log(
    "| format | n | accuracy | under (tier) | over (tier) | **under (model)** | over (model) | saved vs strongest | oracle saves | kept of oracle's saving | routed / strongest / oracle |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of reports)
    console.log(
      `| ${r.api} (vs ${r.baselineModel}) | ${r.n} | ${pct(r.accuracy)} | ${pct(r.underTier)} | ${pct(r.overTier)} | **${pct(r.underModel)}** | ${pct(r.overModel)} | ${pct(r.saved)} | ${pct(r.oracleSaved)} | ${pct(r.keptOfOracle)} | ${usd(r.routed)} / ${usd(r.baseline)} / ${usd(r.oracle)} |`,
    );
  for (const r of reports) {
    console.log(`\n${r.api} confusion (rows = label, columns = routed tier):`);
    console.log(`| label \\ routed | ${TIERS.join(" | ")} |\n| --- | --- | --- | --- | --- |`);
    for (const t of TIERS) console.log(`| ${t} | ${TIERS.map((u) => r.confusion[t][u]).join(" | ")} |`);
  }
}

function perSource(api: Api, items: Item[], view = SEED_VIEW) {
  const groups = new Map<string, Item[]>();
  for (const i of items) {
    const k = i.s
      .split(":")
      .slice(0, i.s.startsWith("mt-bench") ? 3 : 1)
      .join(":")
      .replace(/:(writing|roleplay|extraction|humanities|stem|coding|math|reasoning)(?=:)/, "");
    groups.set(k, [...(groups.get(k) ?? []), i]);
  }
  console.log(`\nper source (${api}): n · under (model) · over (model)`);
  for (const [k, xs] of [...groups].sort()) {
    const r = evaluatePrompts(api, xs, view);
    console.log(`  ${k.padEnd(26)} ${String(r.n).padStart(4)} · ${pct(r.underModel).padStart(6)} · ${pct(r.overModel).padStart(6)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const view = SEED_VIEW;
  console.log(`# Smart router evaluation (catalog v${view.version}, classifier ${modelVersion()})`);
  const leak = leaks();
  console.log(
    `\nleakage check: ${leak.copies.length} copies or near-copies of the ${leak.public} public held-out prompts in the training data or our own held-out set`,
  );
  for (const c of leak.copies.slice(0, 5)) console.log(`  ${c.in}: ${c.copy.slice(0, 100)} ≈ ${c.public.slice(0, 100)}`);
  const pub = SETS.public();
  const own = SETS.own();
  table(
    `Public held-out set (reserved benchmarks' test splits, ${pub.length} prompts)`,
    (["openai", "anthropic"] as const).map((a) => evaluatePrompts(a, pub, view)),
  );
  perSource("openai", pub, view);
  table(
    `Own held-out set, report half (other sources than the training data, ${own.length} prompts)`,
    (["openai", "anthropic"] as const).map((a) => evaluatePrompts(a, own, view)),
  );
  const calls = generateTraces(SETS.ownAll(), 60);
  const traces = (["openai", "anthropic"] as const).map((a) => evaluateTraces(a, calls, view));
  table(`Agent traces (${traces[0]!.convs} OpenClaw-shaped conversations, ${calls.length} calls: tools, history, tool loops, heartbeats)`, traces);
  console.log(
    "\n| format | downgrades inside a task | model switches / conversation (all calls) | switches / conversation (task calls) | most task switches in one conversation |\n| --- | --- | --- | --- | --- |",
  );
  for (const t of traces)
    console.log(`| ${t.api} | ${t.downgrades} | ${t.switchesPerConv!.toFixed(2)} | ${t.taskSwitchesPerConv!.toFixed(2)} | ${t.maxTaskSwitches} |`);
  const big = traces.flatMap((t) => t.timings.slice(20));
  console.log(
    `\ndecision time in Node (plan + pick, ${big.length} agent calls of ~55–90 KB): p50 ${quantile(big, 0.5).toFixed(3)} ms · p99 ${quantile(big, 0.99).toFixed(3)} ms`,
  );
  console.log("decision time inside workerd: npm run router:bench");
}
