import { describe, expect, it } from "vitest";
import { decide } from "../../edge/src/proxy/routing/decide";
import { averageFits, chooseDecision, fitModel, modelUnder, pointBound, pricedThresholds, tierCost } from "../router-train/train";
import { featurize } from "../../edge/src/proxy/routing/features";

const example = (y: number, text: string, src = "test") => {
  const f = featurize(text);
  return { y, idx: f.idx.slice(0, f.n), value: f.value, dense: f.dense.slice(), src };
};

describe("router training pieces", () => {
  const data = [
    example(0, "set a timer for ten minutes"),
    example(1, "rewrite this paragraph so it sounds friendlier"),
    example(2, "write a python function that merges two sorted lists"),
    example(3, "how many integers n below 100 make n^2 + n divisible by 6"),
  ];

  it("a run depends on its seed only, and the mean of runs is their element-wise mean", () => {
    const a = fitModel(data, 1);
    expect(fitModel(data, 1)).toEqual(a); // deterministic
    const b = fitModel(data, 2);
    expect(b.W).not.toEqual(a.W); // another order gives other weights (the test would see a seed being ignored)
    const m = averageFits([a, b]);
    for (const i of [0, 5, data[2]!.idx[0]! * 4 + 2]) expect(m.W[i]).toBeCloseTo((a.W[i]! + b.W[i]!) / 2, 6);
    expect(m.b[3]).toBeCloseTo((a.b[3]! + b.b[3]!) / 2, 9);
    expect(averageFits([a])).toEqual(a); // one run averaged is that run: the shipped single-seed model stays byte-identical
  });

  it("price-proportional thresholds follow each format's price steps and keep a boundary that changes no model", () => {
    const openai = [...pricedThresholds("openai")];
    const anthropic = [...pricedThresholds("anthropic", 0.04)];
    expect(anthropic.every((t) => t[0] === 0.04)).toBe(true);
    // OpenAI's last step (sol → astra, 5×) is dearer than its first two, so its threshold is higher.
    const mid = openai[60]!;
    expect(mid[2]!).toBeGreaterThan(mid[1]!);
    // The higher the price of an under-routed prompt, the lower every threshold.
    for (let i = 1; i < openai.length; i++) for (let k = 0; k < 3; k++) expect(openai[i]![k]!).toBeLessThanOrEqual(openai[i - 1]![k]!);
    expect(modelUnder("anthropic", 0, 1)).toBe(false); // Haiku serves simple and standard
    expect(tierCost("anthropic", 3, 3)).toBeGreaterThan(tierCost("anthropic", 2, 3));
  });

  it("the decision respects the under-routing rule it is given", () => {
    // Four prompts whose scores say "reasoning" weakly: a strict rule must send them up, a lax one need not.
    const z = [0, 1, 2, 3].map(() => Float64Array.from([2, 1, 0, 0.5]));
    const dev = [{ y: 3 }, { y: 3 }, { y: 0 }, { y: 0 }];
    const strict = chooseDecision("openai", z, dev, undefined, undefined, pointBound(0))!;
    const lax = chooseDecision("openai", z, dev, undefined, undefined, pointBound(1))!;
    const tier = (d: { temperature: number; tau: number[] }) => {
      const e = z[0]!.map((x) => Math.exp(x / d.temperature));
      const s = e.reduce((a, b) => a + b, 0);
      return decide(
        Array.from(e, (x) => x / s),
        d.tau,
      );
    };
    expect(tier(strict)).toBe(3);
    expect(tier(lax)).toBe(0);
  });
});
