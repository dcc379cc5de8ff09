import { describe, expect, it } from "vitest";
import { SEED_VIEW } from "../../edge/src/proxy/catalog";
import { classifyText, modelVersion } from "../../edge/src/proxy/routing/classifier";
import { SETS, evaluatePrompts, evaluateTraces, leaks } from "../router-eval/eval";
import { NearDupIndex } from "../router-train/near-dup";
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
      expect(r.underModel).toBeLessThanOrEqual(0.07);
      // Anthropic's cheap model covers simple and standard, so over-routing standard work costs 20× there.
      expect(r.keptOfOracle).toBeGreaterThanOrEqual(api === "openai" ? 0.9 : 0.83);
      expect(r.saved).toBeGreaterThan(0.35);
    }
  });

  it("does as well on our own held-out report half (sources the training data does not use)", () => {
    const r = evaluatePrompts("openai", SETS.own());
    expect(r.underModel).toBeLessThanOrEqual(0.05);
    expect(r.keptOfOracle).toBeGreaterThanOrEqual(0.75);
  });

  it("is honest: no public held-out prompt, nor a near-copy of one, is in the training data or our own held-out set", () => {
    const r = leaks();
    expect(r.public).toBeGreaterThan(1000);
    expect(r.copies).toEqual([]);
    // Positive control: the check does see a copy under another wrapper and punctuation, and a near-copy.
    const pub = SETS.public().find((i) => i.s.startsWith("alpacaeval") && i.t[0]!.split(" ").length > 20)!;
    const index = new NearDupIndex([pub.t[0]!]);
    expect(index.match(`Please help me with this. ${pub.t[0]!.toUpperCase().replace(/[,.]/g, " ")}`)).toBe(0);
    expect(index.match(pub.t[0]!.split(" ").slice(0, -3).join(" "))).toBe(0);
    expect(index.match("Write a limerick about a cat who loves Mondays and hates the rain on Sunday afternoons.")).toBe(-1);
  });

  it("on agent traces never downgrades inside a task and switches at most once per conversation's tasks", () => {
    const calls = generateTraces(SETS.ownAll(), 30);
    expect(new Set(calls.map((c) => c.kind))).toEqual(new Set(["task", "tool", "follow-up", "ack", "heartbeat"]));
    for (const api of ["openai", "anthropic"] as const) {
      const r = evaluateTraces(api, calls);
      expect(r.downgrades).toBe(0);
      expect(r.taskSwitchesPerConv!).toBeLessThanOrEqual(1);
      expect(r.underModel).toBeLessThanOrEqual(0.05);
      expect(r.keptOfOracle).toBeGreaterThanOrEqual(0.8);
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

  it("decides per wire format on the same scores: each format's thresholds, never a different reading of the text", () => {
    const text = "Summarise the main arguments for and against a four-day working week in a short paragraph.";
    const [o, a] = [classifyText(text, "openai"), classifyText(text, "anthropic")];
    expect(o.probs.indexOf(Math.max(...o.probs))).toBe(a.probs.indexOf(Math.max(...a.probs)));
    expect(classifyText(text)).toEqual(o); // OpenAI's decision is the default
    for (const api of ["openai", "anthropic"] as const)
      expect(classifyText("Write a Python function that parses ISO 8601 durations, with unit tests.", api).tier).toBe("complex");
  });
});
