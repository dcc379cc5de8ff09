import { maxTier, tierRank, TIERS, type Tier } from "./tiers";

/**
 * The smart router's pure pick step: given a plan (what a turn needs and the models that could serve it,
 * built by the edge's router) and the conversation's pin, the model for this turn and the new pin. The
 * user's Durable Object runs it in the step that authorises the call; the edge's evaluation runs it too, so
 * both agree by construction. A conversation's tier may move up within a task and never down; a tool loop
 * keeps its model; among models able to serve a turn, the one already holding the prefix in its prompt cache
 * is preferred when staying is cheaper than switching.
 */

/** A task's pin lives this long after its last call: a new message after a long pause is a new task. */
export const PIN_TTL_MS = 30 * 60_000;
/** How long a provider keeps a prompt prefix cached after its last use (Anthropic 5 min, OpenAI 5–10 min). */
export const CACHE_TTL_MS = 5 * 60_000;

export type Kind = "human" | "follow-up" | "tool" | "heartbeat" | "ack";

export interface RouteOption {
  model: string;
  maxTier: Tier;
  /** Worst-case wholesale of this model for this request (what a reservation must cover). */
  maxWholesale: number;
  /** Estimated wholesale with a cold cache (prefix written) and a warm one (prefix read from cache). */
  cold: number;
  warm: number;
}

export interface RoutePlan {
  /** Identifies the conversation (system prompt + first human message). */
  key: string;
  kind: Kind;
  /** The tier this turn needs on its own. */
  proposed: Tier;
  reason: string;
  /** Every model the router may pick in the client's format, cheapest first. */
  options: RouteOption[];
  /** The strongest model of the format, for "use the best model" conversations. */
  best: string;
  /** The answer can be checked whole before it is returned (non-stream), so a bad one can be retried. */
  canEscalate: boolean;
}

export interface Pin {
  tier: Tier;
  model: string;
  /** Last call of the task (ms). */
  at: number;
  /** The user asked for the best model in this conversation. */
  best?: boolean;
}

export interface RouteChoice {
  tier: Tier;
  model: string;
  /** The models to try in order: the choice, then fallbacks of the same tier. */
  chain: string[];
  /** One tier up, for escalation when the answer is detectably bad (absent at the top). */
  escalation?: string;
  /** What to reserve: the worst case over the chain (it covers the escalation too). */
  reserve: number;
  reason: string;
  /** The pin to store (undefined: leave the stored one as it is). */
  pin?: Pin;
}

/** The model for this turn given the conversation's pin; pure, so the Durable Object and the evaluation agree. */
export function pickRoute(plan: RoutePlan, pin: Pin | undefined, now: number): RouteChoice {
  const alive = pin && now - pin.at < PIN_TTL_MS ? pin : undefined;
  const warmModel = pin && now - pin.at < CACHE_TTL_MS ? pin.model : undefined;
  const capable = (t: Tier) => plan.options.filter((o) => tierRank(o.maxTier) >= tierRank(t));
  const cost = (o: RouteOption) => (o.model === warmModel ? o.warm : o.cold);
  const cheapest = (t: Tier) => capable(t).reduce<RouteOption | undefined>((a, o) => (!a || cost(o) < cost(a) ? o : a), undefined);
  const finish = (tier: Tier, chosen: RouteOption, reason: string, newPin: Pin | undefined): RouteChoice => {
    const fallbacks = capable(tier)
      .filter((o) => o.model !== chosen.model)
      .slice(0, 1);
    const chain = [chosen, ...fallbacks];
    const reserve = Math.max(...chain.map((o) => o.maxWholesale));
    // Escalation only where the hold already covers it (the fallback is usually the next tier's model).
    const up = TIERS[tierRank(tier) + 1];
    const escalation = up && plan.canEscalate ? capable(up).find((o) => o.model !== chosen.model && o.maxWholesale <= reserve) : undefined;
    return { tier, model: chosen.model, chain: chain.map((o) => o.model), escalation: escalation?.model, reserve, reason, pin: newPin };
  };

  if (alive?.best) {
    const best = plan.options.find((o) => o.model === plan.best) ?? capable("reasoning")[0]!;
    return finish("reasoning", best, "best model for this conversation (your choice)", { ...alive, at: now });
  }
  // Heartbeats and acknowledgements are not part of the task: cheapest model that can answer (the warm
  // cache counted), and the task's pin is left as it is.
  if (plan.kind === "heartbeat" || plan.kind === "ack") {
    const o = cheapest("simple")!;
    return finish("simple", o, `${plan.reason}${o.model === warmModel ? ", stays on the cached model" : ""}`, undefined);
  }
  const tier = alive ? maxTier(alive.tier, plan.proposed) : plan.proposed;
  const raised = alive && tierRank(plan.proposed) > tierRank(alive.tier);
  const why =
    alive && !raised && plan.proposed !== tier ? `${plan.reason}; task stays ${tier}` : raised ? `${plan.reason}; task raised to ${tier}` : plan.reason;
  const pinned = alive ? plan.options.find((o) => o.model === alive.model && tierRank(o.maxTier) >= tierRank(tier)) : undefined;
  // A tool loop keeps its model (a switch mid-loop loses the cache and the model's own plan).
  if (pinned && plan.kind === "tool") return finish(tier, pinned, why, { tier, model: pinned.model, at: now });
  let chosen = cheapest(tier)!;
  // Staying on the pinned model is worth it when its cached prefix makes it the cheaper one.
  if (pinned && cost(pinned) <= cost(chosen)) chosen = pinned;
  const note = pinned && chosen === pinned && warmModel === pinned.model && chosen.model !== capable(tier)[0]?.model ? ", stays on the cached model" : "";
  return finish(tier, chosen, `${why}${note}`, { tier, model: chosen.model, at: now });
}
