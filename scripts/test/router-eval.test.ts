import { describe, expect, it } from "vitest";
import { SETS, evaluate } from "../router-eval/eval";

/** Regression guards on the router's evaluation (numbers as of the last tuning; see the router README note). */
describe("smart router evaluation", () => {
  it("routes the tuning set well and saves most of the top-model cost", () => {
    for (const api of ["openai", "anthropic"] as const) {
      const r = evaluate(api, SETS.tuning);
      expect(r.accuracy).toBeGreaterThanOrEqual(0.95);
      expect(r.underRouted).toBeLessThanOrEqual(0.05);
      expect(r.saved).toBeGreaterThan(0.5);
    }
  });

  it("does not get worse on the held-out set it was never tuned on", () => {
    const r = evaluate("openai", SETS.holdout);
    expect(r.underRouted).toBeLessThanOrEqual(0.42);
    expect(r.overRouted).toBeLessThanOrEqual(0.1);
    expect(r.saved).toBeGreaterThan(0.5);
  });
});
