import type { Api, Tier } from "../catalog";
import { decide, TIER_ORDER } from "./decide";
import { DENSE_DIM, HASH_BITS, featurize } from "./features";
import { MODEL } from "./model.gen";

export { TIER_ORDER };

export interface Classification {
  tier: Tier;
  /** Probability of each tier, in TIER_ORDER. */
  probs: number[];
  /** How sure the model is of the tier it picked (its probability). */
  confidence: number;
}

let weights: Int8Array | undefined;

/** The int8 weights, decoded from base64 once per isolate (a few ms, then never again). */
export function loadWeights(): Int8Array {
  if (weights) return weights;
  if (MODEL.hashBits !== HASH_BITS || MODEL.dense.length !== DENSE_DIM * TIER_ORDER.length)
    throw new Error("router model does not match the feature extractor: run npm run router:train");
  const bin = atob(MODEL.weights);
  const w = new Int8Array(bin.length);
  for (let i = 0; i < bin.length; i++) w[i] = (bin.charCodeAt(i) << 24) >> 24;
  if (w.length !== (1 << HASH_BITS) * TIER_ORDER.length) throw new Error("router model weights have the wrong size");
  return (weights = w);
}

export const modelVersion = () => MODEL.version;

/**
 * Classifies one human message for a wire format: the model's scores are the same for both, but the
 * decision (temperature and thresholds) is each format's own, chosen for its prices (train.ts). Pure: the
 * same text always gets the same answer.
 */
export function classifyText(text: string, api: Api = "openai"): Classification {
  const decision = MODEL.decision[api];
  const w = loadWeights();
  const f = featurize(text);
  const C = 4;
  const acc = [0, 0, 0, 0];
  for (let i = 0; i < f.n; i++) {
    const base = f.idx[i]! * C;
    acc[0]! += w[base]!;
    acc[1]! += w[base + 1]!;
    acc[2]! += w[base + 2]!;
    acc[3]! += w[base + 3]!;
  }
  const z = [0, 0, 0, 0];
  for (let c = 0; c < C; c++) {
    let s = MODEL.bias[c]! + acc[c]! * MODEL.scale[c]! * f.value;
    for (let j = 0; j < DENSE_DIM; j++) s += MODEL.dense[j * C + c]! * f.dense[j]!;
    z[c] = s / decision.temperature;
  }
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const sum = e.reduce((a, b) => a + b, 0);
  const probs = e.map((x) => x / sum);
  const k = decide(probs, decision.tau);
  return { tier: TIER_ORDER[k]!, probs, confidence: probs[k]! };
}
