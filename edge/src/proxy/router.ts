import { SEED_VIEW, type Api, type CatalogView, type ModelInfo, type Tier } from "./catalog";
import { modelsOf, pickRoute, planRoute, type Pin, type PlanInput, type RouteChoice, type RoutePlan } from "./routing/plan";

export { pickRoute, planRoute, type Pin, type RouteChoice, type RoutePlan };

/**
 * The smart router's entry points for the proxy. `auto` is planned from the request (routing/plan.ts: a
 * learned classifier on the task's human text plus the conversation rules), then picked against the
 * conversation's pin, which the user's Durable Object holds and applies while it authorises the call.
 */
export interface RouteDecision {
  tier: Tier;
  reason: string;
  /** Models to try in order; the first is the choice, the rest are fallbacks. */
  candidates: ModelInfo[];
  /** One tier up, tried once when the first answer is detectably bad (non-stream only). */
  escalation?: ModelInfo;
}

/** The decision for a choice the Durable Object made, with the cross-provider fallback for plain text. */
export function decisionOf(view: CatalogView, api: Api, choice: RouteChoice, crossProvider: boolean): RouteDecision {
  const other = crossProvider ? view.candidatesFor(api === "openai" ? "anthropic" : "openai", choice.tier).slice(0, 1) : [];
  const escalation = choice.escalation ? view.find(choice.escalation) : undefined;
  return { tier: choice.tier, reason: `auto: ${choice.reason} → ${choice.tier}`, candidates: [...modelsOf(view, choice.chain), ...other], escalation };
}

/**
 * A named model is used as asked, with the cheapest other model able to serve its tier as fallback; an unknown
 * model (or one of the other format) returns undefined. `auto` without a pin routes this request alone.
 */
export function route(
  api: Api,
  requested: string,
  body: PlanInput,
  crossProvider = false,
  view: CatalogView = SEED_VIEW,
  bodyBytes = 0,
  maxOut?: number,
  pin?: Pin,
): RouteDecision | undefined {
  if (requested === "auto") {
    const plan = planRoute(api, body, view, bodyBytes, maxOut);
    return decisionOf(view, api, pickRoute(plan, pin, Date.now()), crossProvider);
  }
  const chosen = view.find(requested);
  if (!chosen || chosen.api !== api) return undefined;
  const other = (t: Tier) => (crossProvider ? view.candidatesFor(api === "openai" ? "anthropic" : "openai", t).slice(0, 1) : []);
  const fallbacks = view
    .candidatesFor(api, chosen.maxTier)
    .filter((m) => m.id !== chosen.id)
    .slice(0, 1);
  return { tier: chosen.maxTier, reason: `requested ${chosen.id}`, candidates: [chosen, ...fallbacks, ...other(chosen.maxTier)] };
}
