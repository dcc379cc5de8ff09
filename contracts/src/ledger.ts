import type { CallFacts, Refusal } from "./protection";
import type { RouteChoice, RoutePlan } from "./routing-plan";
import type { Tier } from "./tiers";

/** What the metering proxy and the user's Durable Object (the ledger) exchange for each model call. */

export interface AuthorizeRequest {
  /** SHA-256 of the proxy key the client presented. */
  keyHash: string;
  reservationId: string;
  /** Upper bound of the request's wholesale cost; the user's markup is applied here. */
  maxWholesale: number;
  call: CallFacts;
  /** A smart-router plan: the model is picked here against the conversation's pin, and the pin updated. */
  route?: { plan: RoutePlan; label: string };
}

export type AuthorizeResult =
  | { ok: true; markupBps: number; reserved: number; agentId: string | null; route?: RouteChoice }
  | { ok: false; code: "invalid_key" | "suspended" | "balance_limit" | Refusal["code"]; message: string };

export interface SettleResult {
  applied: boolean;
  /** This settlement took the balance below the auto top-up threshold (billing's job should run). */
  lowBalance: boolean;
  price: number;
  markupBps: number;
  balance: number;
  /** Of `price`, the part above the call's hold (charged in full; flagged for the operator). */
  overHold: number;
}

/**
 * The usage facts of one settled call, as the proxy reports them; the user's object completes them with the
 * price, markup and id and queues the row for Postgres (`usage_records`, `@oc/db/schema`).
 */
export interface UsageCall {
  userId: string;
  agentId?: string | null;
  model: string;
  provider: string;
  tier?: string | null;
  routeReason?: string | null;
  priceVersion?: number | null;
  inputTokens: number;
  outputTokens: number;
  cachedTokens?: number;
  latencyMs: number;
  background: "interactive" | "background";
}

/** One ledger line, newest first in `listLedger`. */
export interface LedgerEntry {
  id: number;
  at: number;
  kind: string;
  amount: number;
  ref: string;
  balance_after: number;
}

/** A conversation the smart router pinned (the dashboard's "use the best model" switch). */
export interface RouteConversation {
  key: string;
  tier: string;
  model: string;
  at: number;
  best: boolean;
  label: string;
}

/** A smart-router escalation at settlement: the conversation moves up to this tier and model. */
export interface RouteRaise {
  key: string;
  tier: Tier;
  model: string;
}
