import { describe, expect, it } from "vitest";
import { SEED_VIEW } from "../../edge/src/proxy/catalog";
import { classifyText, modelVersion } from "../../edge/src/proxy/routing/classifier";
import { SETS, evaluatePrompts, evaluateTraces } from "../router-eval/eval";
import { generateTraces } from "../router-eval/traces";

/**
 * Regression guards on the router evaluation (the classifier and the traces are deterministic, so these
 * numbers move only when the router, its model or the data change; `npm run router:eval` prints them all).
 * Bounds sit a little outside the current figures: a change that makes routing worse fails here.
 */
describe("smart router evaluation", () => {
  it("keeps under-routing low and most of the oracle's saving on the public held-out set", () => {
    const items = SETS.public();
    expect(items.length).toBeGreaterThan(1000);
    for (const api of ["openai", "anthropic"] as const) {
      const r = evaluatePrompts(api, items);
      expect(r.underModel).toBeLessThanOrEqual(0.09);
      // Anthropic's cheap model covers simple and standard, so over-routing standard work costs 20× there.
      expect(r.keptOfOracle).toBeGreaterThanOrEqual(api === "openai" ? 0.9 : 0.65);
      expect(r.saved).toBeGreaterThan(0.3);
    }
  });

  it("does as well on our own held-out report half (sources the training data does not use)", () => {
    const r = evaluatePrompts("openai", SETS.own());
    expect(r.underModel).toBeLessThanOrEqual(0.06);
    expect(r.keptOfOracle).toBeGreaterThanOrEqual(0.8);
  });

  it("on agent traces never downgrades inside a task and switches at most once per conversation's tasks", () => {
    const calls = generateTraces(SETS.ownAll(), 30);
    expect(new Set(calls.map((c) => c.kind))).toEqual(new Set(["task", "tool", "follow-up", "ack", "heartbeat"]));
    for (const api of ["openai", "anthropic"] as const) {
      const r = evaluateTraces(api, calls);
      expect(r.downgrades).toBe(0);
      expect(r.taskSwitchesPerConv!).toBeLessThanOrEqual(1);
      expect(r.underModel).toBeLessThanOrEqual(0.05);
      expect(r.keptOfOracle).toBeGreaterThanOrEqual(0.7);
      // Heartbeats and thanks reach the cheapest model although every call carries 24 tools.
      const cheap = SEED_VIEW.candidatesFor(api, "simple")[0]!.id;
      expect(r.confusion.simple.simple).toBeGreaterThan(0);
      expect(cheap).toBeTruthy();
    }
  });

  it("the shipped classifier is deterministic and tells the obvious cases apart", () => {
    expect(modelVersion()).toMatch(/^[0-9a-f]{12}$/);
    const a = classifyText("Write a Python function that parses ISO 8601 durations, with unit tests.");
    expect(classifyText("Write a Python function that parses ISO 8601 durations, with unit tests.")).toEqual(a);
    expect(a.tier).toBe("complex");
    expect(
      classifyText(
        "A bat and a ball cost $1.10 in total. The bat costs $1.00 more than the ball. How much does the ball cost? Then find all integers n such that n^2 + 2n is divisible by 12.",
      ).tier,
    ).toBe("reasoning");
    expect(["standard", "complex"]).toContain(classifyText("Rewrite this email so it sounds friendlier: Hi, the report is late again.").tier);
  });
});
