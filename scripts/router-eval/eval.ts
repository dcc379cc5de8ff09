// Router evaluation: `npm run router:eval`. Routes a labelled prompt set with model "auto" and reports, per
// API format, the cost against always using the top model and how often a prompt lands below its label.
import { readFileSync } from "node:fs";
import { TIERS, tierRank, topModel, type Api, type Tier } from "../../edge/src/proxy/catalog";
import { wholesaleMicros } from "../../edge/src/proxy/pricing";
import { route } from "../../edge/src/proxy/router";

/**
 * prompts.json is the set the classifier's rules were written against; holdout.json was written before
 * looking at any routing result and never tuned on: its numbers are the honest ones.
 */
const load = (file: string) => JSON.parse(readFileSync(new URL(file, import.meta.url), "utf8")) as [Tier, string][];
export const SETS = { tuning: load("./prompts.json"), holdout: load("./holdout.json") };

/** A typical OpenClaw turn: ~12k tokens of system prompt and tools, plus the message; output grows with the tier. */
const SYSTEM_TOKENS = 12_000;
const OUTPUT_TOKENS: Record<Tier, number> = { simple: 80, standard: 400, complex: 1_200, reasoning: 2_000 };

export interface EvalReport {
  api: Api;
  prompts: number;
  accuracy: number;
  underRouted: number;
  overRouted: number;
  routedCost: number;
  topCost: number;
  saved: number;
  confusion: Record<Tier, Record<Tier, number>>;
}

export function evaluate(api: Api, prompts: [Tier, string][]): EvalReport {
  const confusion = Object.fromEntries(TIERS.map((t) => [t, Object.fromEntries(TIERS.map((u) => [u, 0]))])) as EvalReport["confusion"];
  let routedCost = 0;
  let topCost = 0;
  let under = 0;
  let over = 0;
  const top = topModel(api);
  for (const [label, text] of prompts) {
    const decision = route(api, "auto", { messages: [{ role: "user", content: text }] })!;
    confusion[label][decision.tier]++;
    if (tierRank(decision.tier) < tierRank(label)) under++;
    if (tierRank(decision.tier) > tierRank(label)) over++;
    const usage = { inputTokens: SYSTEM_TOKENS + Math.ceil(text.length / 4), outputTokens: OUTPUT_TOKENS[label], cachedTokens: 0 };
    routedCost += wholesaleMicros(decision.candidates[0]!, usage);
    topCost += wholesaleMicros(top, usage);
  }
  const n = prompts.length;
  return { api, prompts: n, accuracy: (n - under - over) / n, underRouted: under / n, overRouted: over / n, routedCost, topCost, saved: 1 - routedCost / topCost, confusion };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  for (const [set, prompts] of Object.entries(SETS)) for (const api of ["openai", "anthropic"] as const) {
    const r = evaluate(api, prompts);
    console.log(`\n${set} set · ${api}: ${r.prompts} labelled prompts, baseline = always ${topModel(api).id}`);
    console.log(`  cost: routed $${(r.routedCost / 1e6).toFixed(4)} vs top $${(r.topCost / 1e6).toFixed(4)}  →  saved ${pct(r.saved)}`);
    console.log(`  tier accuracy ${pct(r.accuracy)} · sent below its label ${pct(r.underRouted)} · above ${pct(r.overRouted)}`);
    console.log(`  confusion (rows = label, columns = routed):`);
    console.log(`    ${"".padEnd(10)}${TIERS.map((t) => t.padStart(10)).join("")}`);
    for (const t of TIERS) console.log(`    ${t.padEnd(10)}${TIERS.map((u) => String(r.confusion[t][u]).padStart(10)).join("")}`);
  }
}
