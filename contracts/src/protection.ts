import type { Tier } from "./tiers";

/** Per-user token protection settings, editable from the dashboard's Token Protection page. */
export interface ProtectionSettings {
  /** Most one inbound message may cost, by tier, in micro-USD (all the model calls it triggers). */
  perMessageBudget: Record<Tier, number>;
  loop: { maxRepeats: number; windowSec: number; maxCallsPerMessage: number };
  quietHours: { enabled: boolean; start: string; end: string };
  timezone: string;
  dailyCap: number | null;
  monthlyCap: number | null;
  /** Below `threshold` (micro-USD) the saved card is charged for `packId` (contracts/src/plans.ts). */
  autoTopUp: { enabled: boolean; threshold: number; packId?: string };
  /** Single pass for background jobs: model calls one background trigger may make. */
  backgroundMaxCalls: number;
}

export interface CallFacts {
  tier: Tier;
  background: boolean;
  /** Hash of what makes two calls "the same" (last message / tool call). */
  fingerprint: string;
  /** Hash identifying the inbound message (or background trigger) this call serves. */
  inbound: string;
}

export type Refusal = { code: "loop_detected" | "quiet_hours" | "daily_cap" | "monthly_cap" | "message_budget" | "background_single_pass"; message: string };
