import { maxTier, type Tier } from "@oc/contracts/tiers";
import { type Kind, type RouteOption, type RoutePlan } from "@oc/contracts/routing-plan";
import type { Api, CatalogView, ModelInfo } from "../catalog";
import { maxWholesaleMicros, wholesaleMicros } from "../pricing";
import { classifyText } from "./classifier";
import { readConversation, type Conversation } from "./conversation";

export { CACHE_TTL_MS, PIN_TTL_MS, pickRoute, type Kind, type Pin, type RouteChoice, type RouteOption, type RoutePlan } from "@oc/contracts/routing-plan";

/**
 * The smart router, as two pure steps around one lookup:
 *   planRoute(request)        → what this turn needs on its own and the models that could serve it;
 *   pickRoute(plan, pin, now) → the model, given the conversation's pin (kept in the user's Durable Object
 *                               and read in the same step that authorises the call), and the new pin.
 * (pickRoute and the plan's types are in contracts/src/routing-plan.ts: the user's Durable Object runs it.)
 * A conversation's tier may move up within a task and never down; a tool loop keeps its model; the cheap
 * tier stays reachable for greetings, acknowledgements and heartbeats even with tools attached; and among
 * models able to serve a turn, the one already holding the conversation's prefix in its prompt cache is
 * preferred when staying is cheaper than switching.
 */

/** A human message this short, in a conversation that already has a task, continues that task. */
const FOLLOW_UP_CHARS = 240;
/** Output the router expects per tier, for its cost comparison (not for billing). */
const EXPECTED_OUTPUT: Record<Tier, number> = { simple: 120, standard: 500, complex: 1_200, reasoning: 2_500 };
const ACK =
  /^\s*(hi|hello|hey|yo|thanks?( you)?( so much| a lot)?|thx|ty|ok(ay)?|cool|great|nice|perfect|awesome|got it|sounds good|good (morning|night|evening)|bye|see you|👍|🙏|❤️|yes|no|sure|done)\b[\s!.,:)🙂😊👍🙏]*(\s*(thanks|thank you|!|😊|🙂))?\s*$/i;

export interface PlanInput {
  messages?: unknown;
  input?: unknown;
  system?: unknown;
  instructions?: unknown;
  tools?: unknown;
}

/** `holdOf` prices a model's hold for this request (the proxy's hold.ts: n, tiers, media); by default bytes and max output. */
export function planRoute(
  api: Api,
  body: PlanInput & { stream?: unknown },
  view: CatalogView,
  bodyBytes: number,
  maxOut: number | undefined,
  holdOf?: (m: ModelInfo) => number,
): RoutePlan {
  const c = readConversation(body);
  const { kind, proposed, reason } = judge(c, api);
  const prefix = Math.ceil(c.prefixChars / 4);
  const fresh = Math.ceil(c.newChars / 4) + 1;
  const out = EXPECTED_OUTPUT[proposed];
  const options = view.candidatesFor(api, "simple").map((m): RouteOption => ({
    model: m.id,
    maxTier: m.maxTier,
    maxWholesale: holdOf ? holdOf(m) : maxWholesaleMicros(m, bodyBytes, maxOut),
    cold: wholesaleMicros(m, { inputTokens: prefix + fresh, cachedTokens: 0, cacheWriteTokens: prefix + fresh, outputTokens: out }),
    warm: wholesaleMicros(m, { inputTokens: prefix + fresh, cachedTokens: prefix, cacheWriteTokens: fresh, outputTokens: out }),
  }));
  return { key: c.key, kind, proposed, reason, options, best: view.strongest(api).id, canEscalate: body.stream !== true };
}

/** What a turn needs on its own: the classifier on the task's human text, with the conversation rules. */
export function judge(c: Conversation, api: Api = "openai"): { kind: Kind; proposed: Tier; reason: string } {
  // A heartbeat reads HEARTBEAT.md (one tool call) and usually has nothing to do; one that keeps calling
  // tools found work, and that work is at least everyday work.
  if (c.kind === "heartbeat")
    return c.toolSteps > 1
      ? { kind: "tool", proposed: "standard", reason: "heartbeat with work to do" }
      : { kind: "heartbeat", proposed: "simple", reason: "heartbeat check" };
  const own = classifyText(c.human, api);
  if (c.kind === "tool") {
    // The tool output is not the task: the task is what the person asked for, and it keeps its tier.
    return { kind: "tool", proposed: own.tier, reason: `tool loop of a ${own.tier} task` };
  }
  if (ACK.test(c.human)) return { kind: "ack", proposed: "simple", reason: "greeting or acknowledgement" };
  if (c.previousHuman !== undefined && c.human.length <= FOLLOW_UP_CHARS) {
    const before = classifyText(c.previousHuman, api);
    const tier = maxTier(own.tier, before.tier);
    return { kind: "follow-up", proposed: tier, reason: tier === own.tier ? `follow-up, ${tier} on its own` : `follow-up of a ${before.tier} task` };
  }
  return { kind: "human", proposed: own.tier, reason: `classified ${own.tier} (p=${own.confidence.toFixed(2)})` };
}

export const modelsOf = (view: CatalogView, ids: string[]): ModelInfo[] => ids.map((id) => view.find(id)).filter((m): m is ModelInfo => !!m);
