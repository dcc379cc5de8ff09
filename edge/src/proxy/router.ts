import { candidatesFor, findModel, tierRank, type Api, type ModelInfo, type Tier } from "./catalog";

/**
 * The smart router. It classifies a request locally (no extra model call on the hot path) into a tier
 * from features of the request, then the cheapest model able to serve that tier is tried first, with the
 * next candidates as fallbacks on upstream 5xx/429.
 */
export interface Features {
  chars: number;
  turns: number;
  hasCode: boolean;
  mathScore: number;
  tools: number;
  reasoningAsk: boolean;
  complexAsk: boolean;
  simpleAsk: boolean;
  taskAsk: boolean;
}

const CODE = /```|\b(function|def|class|import|return|const|let|var|SELECT|INSERT|#include|console\.log|=>)\b|[{};]\s*$/m;
const MATH = /(\b(integral|derivative|theorem|prove|proof|equation|matrix|eigen\w*|probability|lemma|induction|solve|derivation)\b|[∑∫√≤≥≠]|\w\s*\^\s*\d+|\d+\s*[*/]\s*\d+|=\s*\d)/gi;
const REASONING = /\b(step[- ]by[- ]step|think (carefully|deeply|hard)|prove|derive|rigorous|formal proof|optimi[sz]e the algorithm|plan out|root cause|is this argument valid|determine the|show the derivation|set up the equation)\b/i;
const COMPLEX = /\b(refactor|architecture|design (a|an|the)|implement|debug|analy[sz]e|compare|write (a|an) [\w\s,.-]{0,30}(essay|report|program|script|function|cover letter)|review (this|the|my)|translate this document|summari[sz]e (this|the) (paper|report|document)|migration|strategy|trade-?offs?)\b/i;
/** Everyday tasks: writing, planning, explaining. Short prompts with these verbs are still "standard". */
const TASK = /\b(write|draft|rewrite|compose|create|summari[sz]e|explain|suggest|recommend|list|give me|help me|make|turn these|find a good|plan|prepare|what should|pros and cons)\b/i;
const SIMPLE = /^(hi|hello|hey|thanks|thank you|ok|okay|yes|no|good (morning|night)|what time|what's the weather|remind me)\b/i;

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === "object" && p && "text" in p ? String((p as { text: unknown }).text) : "")).join(" ");
  return "";
}

export function extractFeatures(body: { messages?: unknown; tools?: unknown[]; input?: unknown }): Features {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: string; content?: unknown }[]) : [];
  const lastUser = textOf([...messages].reverse().find((m) => m.role === "user")?.content ?? (typeof body.input === "string" ? body.input : ""));
  const all = messages.map((m) => textOf(m.content)).join("\n");
  return {
    chars: lastUser.length,
    turns: messages.filter((m) => m.role === "user").length,
    hasCode: CODE.test(lastUser),
    mathScore: (lastUser.match(MATH) ?? []).length,
    tools: Array.isArray(body.tools) ? body.tools.length : 0,
    reasoningAsk: REASONING.test(lastUser),
    complexAsk: COMPLEX.test(lastUser) || (CODE.test(all) && lastUser.length > 400),
    simpleAsk: SIMPLE.test(lastUser.trim()) && lastUser.length < 80,
    taskAsk: TASK.test(lastUser) && lastUser.length >= 60,
  };
}

export function classify(f: Features): { tier: Tier; reason: string } {
  if (f.reasoningAsk || f.mathScore >= 2) return { tier: "reasoning", reason: f.reasoningAsk ? "asks for careful reasoning" : "math-heavy" };
  // Under-routing costs quality, over-routing only money: only clearly easy messages go below "standard".
  if (f.complexAsk || (f.hasCode && f.chars > 200) || f.chars > 300) return { tier: "complex", reason: f.hasCode ? "code work" : f.complexAsk ? "complex task" : "long request" };
  if (f.simpleAsk && f.tools === 0 && f.turns <= 3) return { tier: "simple", reason: "short chit-chat" };
  if (f.chars < 60 && !f.taskAsk && !f.hasCode && f.mathScore === 0 && f.turns <= 2 && f.tools === 0) return { tier: "simple", reason: "short question" };
  return { tier: "standard", reason: f.tools > 0 ? "tool use" : "everyday task" };
}

export interface RouteDecision {
  tier: Tier;
  reason: string;
  /** Models to try in order; the first is the choice, the rest are fallbacks. */
  candidates: ModelInfo[];
}

/**
 * `auto` routes by tier. A named model is used as asked, with cheaper-or-equal models of the same tier as
 * fallbacks; an unknown model returns undefined. With `crossProvider` (a plain text conversation, see
 * translate.ts) the last fallback is the cheapest capable model of the other provider, so an outage of one
 * provider does not stop the agent.
 */
export function route(api: Api, requested: string, body: Parameters<typeof extractFeatures>[0], crossProvider = false): RouteDecision | undefined {
  const { tier, reason } = classify(extractFeatures(body));
  const other = (t: Tier) => (crossProvider ? candidatesFor(api === "openai" ? "anthropic" : "openai", t).slice(0, 1) : []);
  if (requested === "auto") {
    const candidates = [...candidatesFor(api, tier).slice(0, 3), ...other(tier)];
    return { tier, reason: `auto: ${reason} → ${tier}`, candidates };
  }
  const chosen = findModel(requested);
  if (!chosen || chosen.api !== api) return undefined;
  const fallbackTier = tierRank(chosen.maxTier) >= tierRank(tier) ? tier : chosen.maxTier;
  const fallbacks = candidatesFor(api, fallbackTier).filter((m) => m.id !== chosen.id).slice(0, 1);
  return { tier, reason: `requested ${chosen.id}`, candidates: [chosen, ...fallbacks, ...other(fallbackTier)] };
}
