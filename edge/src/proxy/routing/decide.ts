import type { Tier } from "../catalog";

export const TIER_ORDER: readonly Tier[] = ["simple", "standard", "complex", "reasoning"];

/**
 * From class probabilities to a tier, leaning up: the highest tier k whose "label is k or harder"
 * probability exceeds τ. Under-routing costs quality while over-routing only costs money, so a small τ
 * (chosen by the trainer on held-back data for a target under-routing rate) sends doubtful prompts up.
 */
export function decide(probs: ArrayLike<number>, tau: number | readonly number[]): number {
  let tail = 0;
  for (let k = probs.length - 1; k >= 1; k--) {
    tail += probs[k]!;
    // One threshold per boundary (index k-1: "standard or harder", "complex or harder", "reasoning").
    if (tail > (typeof tau === "number" ? tau : tau[k - 1]!)) return k;
  }
  return 0;
}
