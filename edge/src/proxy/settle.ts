import type { Env } from "../env";
import { lowBalanceJob } from "../services/billing/jobs";
import type { Authorised } from "./authorise";
import type { ModelInfo } from "./catalog";
import { chargeFor, holdFor, reasoningModel, type MeteredUsage } from "./hold";
import type { RequestFacts } from "./request-policy";
import type { RouteDecision } from "./router";

/** Who answered, read when the call settles (an escalation changes it after forwarding). */
export interface Answered {
  used?: ModelInfo;
  routed: RouteDecision;
  /** An answer retried a tier up adds the first attempt's cost: both were used. */
  escalated?: { from: string; why: string; wholesale: number; usage: MeteredUsage };
}

export type Settle = (usage: MeteredUsage, complete: boolean) => Promise<void>;

/**
 * Settles the reservation exactly once with the actual price and writes the usage record; never below what
 * the provider can have billed (an answer without the provider's usage is charged its hold when hidden
 * reasoning is possible). Releases the settle guard whatever happens.
 */
export function settler(
  ctx: ExecutionContext,
  env: Env,
  userId: string,
  a: Authorised,
  facts: RequestFacts,
  bodyBytes: number,
  started: number,
  answered: Answered,
): Settle {
  const { account, reservationId, call } = a;
  return async (usage, complete) => {
    try {
      const { used, routed, escalated } = answered;
      if (!used) return void (await account.settle(reservationId, 0, call.inbound));
      let wholesale = chargeFor(used, usage, facts);
      let reason = escalated ? `${routed.reason}; ${escalated.from} gave a bad answer (${escalated.why}), retried on ${used.id}` : routed.reason;
      // Without the provider's own numbers, billed-but-unstreamed tokens (reasoning, thinking) are unknown:
      // the call is charged its hold, the most it can have cost.
      if (!complete && (facts.hiddenOutput || reasoningModel(used))) {
        wholesale = Math.max(wholesale, holdFor(facts, used, bodyBytes));
        reason += "; no usage reported by the provider (hidden reasoning possible), charged the hold";
      } else if (!complete) reason += "; stream ended early, usage counted from what was streamed";
      const settled = await account.settle(
        reservationId,
        wholesale + (escalated?.wholesale ?? 0),
        call.inbound,
        {
          userId,
          agentId: a.auth.agentId,
          model: used.id,
          provider: used.api,
          tier: routed.tier,
          routeReason: reason,
          priceVersion: a.view.version,
          inputTokens: usage.inputTokens + (escalated?.usage.inputTokens ?? 0),
          outputTokens: usage.outputTokens + (escalated?.usage.outputTokens ?? 0),
          cachedTokens: usage.cachedTokens + (escalated?.usage.cachedTokens ?? 0),
          latencyMs: Date.now() - started,
          background: call.background ? "background" : "interactive",
        },
        escalated && a.plan ? { key: a.plan.key, tier: routed.tier, model: used.id } : undefined,
      );
      // The balance just fell below the user's threshold: warn, or top up automatically (off the hot path).
      if (settled.lowBalance) ctx.waitUntil(lowBalanceJob(env, userId));
    } finally {
      a.settledDone();
    }
  };
}
