// Trains the smart router's classifier: `npm run router:train` (deterministic: fixed seed, fixed order).
// A multinomial logistic regression over the hashed n-grams and structural features of
// edge/src/proxy/routing/features.ts, trained on data/train.jsonl (built by build-data.ts), quantised to int8
// and written to edge/src/proxy/routing/model.gen.ts so that it bundles into the Worker.
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { DENSE_DIM, HASH_BITS, HASH_DIM, featurize } from "../../edge/src/proxy/routing/features";
import { decide, TIER_ORDER } from "../../edge/src/proxy/routing/decide";
import { rng, shuffled, type Tier } from "./lib";
import { SEED_VIEW, tierRank } from "../../edge/src/proxy/catalog";
import { wholesaleMicros } from "../../edge/src/proxy/pricing";

const C = 4;
const EPOCHS = 6;
const LR = 0.4;
const L2 = 1e-4;
/** Validation under-routing the decision threshold is chosen for (tier level, on the held-back 10%). */
const UNDER_TARGET = 0.04;
/** Model-level under-routing allowed on the cross-source prompts (scored by the model fitted without their sources). */
const CROSS_UNDER_TARGET = 0.04;
/** Model-level under-routing allowed on the development half of our own held-out set. */
const DEV_UNDER_TARGET = 0.03;

/** Our own held-out set (see build-data.ts); even rows are the development half, odd rows the report half. */
export function ownHoldout(): { l: Tier; t: string[]; s: string }[] {
  return readFileSync(new URL("../router-eval/own-holdout.jsonl", import.meta.url), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

interface Example {
  y: number;
  idx: Int32Array;
  value: number;
  dense: Float32Array;
  src: string;
}

export function loadTraining(): { l: Tier; t: string[]; s: string }[] {
  return readFileSync(new URL("./data/train.jsonl", import.meta.url), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

function softmax(z: Float64Array): Float64Array {
  const m = Math.max(...z);
  let sum = 0;
  const p = new Float64Array(z.length);
  for (let c = 0; c < z.length; c++) sum += p[c] = Math.exp(z[c]! - m);
  for (let c = 0; c < z.length; c++) p[c]! /= sum;
  return p;
}

/**
 * Sources kept out of the first fit: the decision threshold and the temperature are chosen on prompts from
 * datasets the model has not seen, which is what production traffic is like (an in-distribution split
 * makes the model look far surer than it is).
 */
const CROSS_SOURCES = new Set(["gpteacher-roleplay", "classeval", "aqua", "asdiv", "mbpp-train:complete", "gaokao2023en"]);

/**
 * Shuffle seeds of the runs whose weights are averaged into the shipped model. One run's result depends on
 * the order it saw the prompts in (retrained with other seeds, the development half's cost moves by ~4
 * points); the mean of several runs' weights does not. The mean of eight runs (COMPARE_SEEDS) is how
 * dev-compare.ts judges a candidate; the shipped model is still the single run of seed 0, because on the
 * development half no mean beat it (README). Fixed: the same data gives the same model files byte for byte.
 */
export const SEEDS: readonly number[] = [0];
export const COMPARE_SEEDS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7];

/** One run over the data in the order its seed gives (seed 0 is the order a single run always used). */
export function fitModel(fit: Example[], seed = 0, hp: { epochs: number; l2: number } = { epochs: EPOCHS, l2: L2 }) {
  const counts = [0, 0, 0, 0];
  for (const e of fit) counts[e.y]!++;
  // Classes are weighted to equal total mass, so thousands of one-liners do not drown the coding tasks.
  const classWeight = counts.map((n) => fit.length / (C * Math.max(1, n)));
  // Within a class every source dataset weighs the same in total, so the largest one (CLINC's 2,300
  // commands, GPTeacher's 1,500 code tasks) does not define its class alone: the model has to learn what
  // a class's sources share, which is what carries to prompts from other sources.
  const srcOf = (e: Example) => e.src.split(":")[0]!;
  const perSource = new Map<string, number>();
  for (const e of fit) perSource.set(srcOf(e), (perSource.get(srcOf(e)) ?? 0) + 1);
  const sourcesOfClass = Array.from({ length: C }, (_, c) => new Set(fit.filter((e) => e.y === c).map(srcOf)).size);
  const sourceWeight = (e: Example) => counts[e.y]! / (sourcesOfClass[e.y]! * perSource.get(srcOf(e))!);
  const W = new Float32Array(HASH_DIM * C);
  const G = new Float32Array(HASH_DIM * C).fill(1e-6); // Adagrad accumulators
  const D = new Float32Array(DENSE_DIM * C);
  const GD = new Float32Array(DENSE_DIM * C).fill(1e-6);
  const b = new Float64Array(C);
  const order = fit.map((_, i) => i);
  for (let epoch = 0; epoch < hp.epochs; epoch++) {
    for (const i of shuffled(order, rng(1000 + epoch + 7919 * seed))) {
      const e = fit[i]!;
      const p = softmax(scores(e, W, D, b));
      const cw = classWeight[e.y]! * sourceWeight(e);
      for (let c = 0; c < C; c++) {
        const g = cw * (p[c]! - (c === e.y ? 1 : 0));
        b[c]! -= 0.05 * g;
        for (let k = 0; k < e.idx.length; k++) {
          const at = e.idx[k]! * C + c;
          const gk = g * e.value + hp.l2 * W[at]!;
          G[at]! += gk * gk;
          W[at]! -= (LR * gk) / Math.sqrt(G[at]!);
        }
        for (let j = 0; j < DENSE_DIM; j++) {
          const at = j * C + c;
          const gj = g * e.dense[j]! + hp.l2 * D[at]!;
          GD[at]! += gj * gj;
          D[at]! -= (LR * gj) / Math.sqrt(GD[at]!);
        }
      }
    }
  }
  return { W, D, b };
}

/** The mean of the weights of one run per seed (logistic regression is convex: the mean is a better fit, not a blend of two models). */
export function fitAveraged(fit: Example[], seeds: readonly number[] = SEEDS) {
  const runs = seeds.map((s) => fitModel(fit, s));
  return averageFits(runs);
}

export function averageFits(runs: { W: Float32Array; D: Float32Array; b: Float64Array }[]) {
  const mean = <T extends Float32Array | Float64Array>(xs: T[], make: (n: number) => T): T => {
    const out = make(xs[0]!.length);
    for (const x of xs) for (let i = 0; i < x.length; i++) out[i]! += x[i]! / xs.length;
    return out;
  };
  return {
    W: mean(
      runs.map((r) => r.W),
      (n) => new Float32Array(n),
    ),
    D: mean(
      runs.map((r) => r.D),
      (n) => new Float32Array(n),
    ),
    b: mean(
      runs.map((r) => r.b),
      (n) => new Float64Array(n),
    ),
  };
}

export function scores(e: Example, w: Float32Array, d: Float32Array, bias: ArrayLike<number>) {
  const z = new Float64Array(C);
  for (let c = 0; c < C; c++) z[c] = bias[c]!;
  for (let i = 0; i < e.idx.length; i++) {
    const base = e.idx[i]! * C;
    for (let c = 0; c < C; c++) z[c]! += w[base + c]! * e.value;
  }
  for (let j = 0; j < DENSE_DIM; j++) for (let c = 0; c < C; c++) z[c]! += d[j * C + c]! * e.dense[j]!;
  return z;
}

export function quantise(W: Float32Array) {
  // int8 per class: scale = max |w| / 127.
  const scale = Array.from({ length: C }, (_, c) => {
    let m = 0;
    for (let i = c; i < W.length; i += C) m = Math.max(m, Math.abs(W[i]!));
    return m / 127 || 1;
  });
  const q = new Int8Array(W.length);
  for (let i = 0; i < W.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(W[i]! / scale[i % C]!)));
  const deq = new Float32Array(W.length);
  for (let i = 0; i < W.length; i++) deq[i] = q[i]! * scale[i % C]!;
  return { q, scale, deq };
}

export const tempered = (z: Float64Array, t: number) => softmax(z.map((x) => x / t));

const APIS = ["openai", "anthropic"] as const;
type Api = (typeof APIS)[number];
interface Decision {
  temperature: number;
  tau: number[];
}
/** The model each tier routes to in a format (the seed catalog's cheapest able model, as the router picks). */
const tierModel = (api: Api, k: number) => SEED_VIEW.candidatesFor(api, TIER_ORDER[k]!)[0]!;
/** Routed to tier k, a prompt labelled y gets a model not trusted with its tier. */
export const modelUnder = (api: Api, k: number, y: number) => tierRank(tierModel(api, k).maxTier) < y;
/** Output tokens a turn of each tier produces (as router:eval assumes), and an OpenClaw call's prompt. */
const OUTPUT = [120, 500, 1_200, 2_500];
const PROMPT_TOKENS = 14_000;
/** Cost of one OpenClaw call labelled y and served at tier k (cold prompt cache), in micro-USD. */
export const tierCost = (api: Api, k: number, y: number) =>
  wholesaleMicros(tierModel(api, k), { inputTokens: PROMPT_TOKENS, cachedTokens: 0, cacheWriteTokens: PROMPT_TOKENS, outputTokens: OUTPUT[y]! });

function* freeThresholds(grid: readonly number[], fixedFirst?: number) {
  for (const t1 of fixedFirst === undefined ? grid : [fixedFirst]) for (const t2 of grid) for (const t3 of grid) yield [t1, t2, t3];
}

/**
 * Thresholds in proportion to the format's price steps: going up from tier k−1 to k pays off when the chance
 * that the prompt needs tier k (the tail probability decide() reads) times the price of an under-routed
 * prompt (1/λ, one parameter) exceeds what the step costs. One free parameter instead of three, so the
 * development half has less to overfit; a boundary that changes no model (Anthropic's first) keeps `fixedFirst`.
 */
export function* pricedThresholds(api: Api, fixedFirst?: number) {
  const step = [1, 2, 3].map((k) => (modelUnder(api, k - 1, k) ? tierCost(api, k, k) - tierCost(api, k - 1, k) : 0));
  // 1/λ from 2,000 to ~2e7 micro-USD per under-routed prompt (the steps are 2e4–2.4e5 micro-USD).
  for (let i = 0; i <= 120; i++) {
    const price = 2_000 * 1.08 ** i;
    const th = step.map((d) => Number(Math.min(0.95, Math.max(0.005, d / price)).toFixed(4)));
    if (fixedFirst !== undefined) th[0] = fixedFirst;
    yield th;
  }
}

/** Whether a decision's under-routed prompts on the development half (per label class, out of its prompts per class) are few enough. */
export type UnderBound = (underOf: readonly number[], perClass: readonly number[]) => boolean;
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
/** At most `target` of all the prompts under their label. */
export const pointBound =
  (target: number): UnderBound =>
  (u, n) =>
    sum(u) / sum(n) <= target;

/**
 * The cheapest decision (temperature and per-boundary thresholds) on the development half of our own
 * held-out set, with the format's own prices, among those that send at most DEV_UNDER_TARGET of its prompts
 * to a model below their label. Each format has its own: Anthropic's steps are 20× (Haiku → Sonnet) and 2×
 * (Sonnet → Opus), OpenAI's 10×, 2× and 5×, so the same doubt is worth a different bet.
 */
export function chooseDecision(
  api: Api,
  devZ: Float64Array[],
  dev: { y: number }[],
  fixedFirst?: number,
  guard?: { z: Float64Array[]; y: number[]; target: number },
  allowed: UnderBound = pointBound(DEV_UNDER_TARGET),
  family: "free" | "priced" = "free",
  temperatures: readonly number[] = [1, 1.5, 2, 3, 4, 6, 8],
): Decision | undefined {
  const perClass = [0, 0, 0, 0];
  for (const e of dev) perClass[e.y]!++;
  const GRID = [0.02, 0.04, 0.06, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8];
  let best: (Decision & { cost: number; under: number }) | undefined;
  for (const t of temperatures) {
    const probs = devZ.map((z) => Array.from(tempered(z, t)));
    const guardProbs = guard?.z.map((z) => Array.from(tempered(z, t)));
    for (const th of family === "priced" ? pricedThresholds(api, fixedFirst) : freeThresholds(GRID, fixedFirst)) {
      let under = 0;
      let cost = 0;
      const underOf = [0, 0, 0, 0];
      for (let i = 0; i < probs.length; i++) {
        const k = decide(probs[i]!, th);
        if (modelUnder(api, k, dev[i]!.y)) (under++, underOf[dev[i]!.y]!++);
        cost += tierCost(api, k, dev[i]!.y);
      }
      if (!allowed(underOf, perClass)) continue;
      // Only a decision that would be the best so far is checked against the guard (the slow part).
      if (best && (cost > best.cost || (cost === best.cost && under >= best.under))) continue;
      if (guard && guardProbs) {
        let gu = 0;
        for (let i = 0; i < guardProbs.length; i++) if (modelUnder(api, decide(guardProbs[i]!, th), guard.y[i]!)) gu++;
        if (gu / guardProbs.length > guard.target) continue;
      }
      // Equal cost: fewer prompts under their label.
      if (!best || cost < best.cost || (cost === best.cost && under < best.under)) best = { temperature: t, tau: th, cost, under };
    }
  }
  return best && { temperature: best.temperature, tau: best.tau };
}

/** The training prompts as examples, split into the first fit's sources and the cross sources, and the development half. */
export function prepare(training = loadTraining()) {
  const items = shuffled(training, rng(42));
  const examples = items.map((it) => {
    const f = featurize(it.t[it.t.length - 1]!);
    return { y: TIER_ORDER.indexOf(it.l), idx: f.idx.slice(), value: f.value, dense: f.dense.slice(), src: it.s };
  });
  const inSrc = examples.filter((e) => !CROSS_SOURCES.has(e.src.split(":")[0]!) && !CROSS_SOURCES.has(e.src));
  const cross = examples.filter((e) => !inSrc.includes(e));
  const dev = ownHoldout()
    .filter((_, i) => i % 2 === 0)
    .map((it) => {
      const f = featurize(it.t[it.t.length - 1]!);
      return { y: TIER_ORDER.indexOf(it.l), idx: f.idx.slice(), value: f.value, dense: f.dense.slice(), src: it.s };
    });
  return { examples, inSrc, cross, dev };
}

type Fit = ReturnType<typeof fitModel>;

/**
 * Bagged thresholds: the temperature the whole development half chooses, then each threshold the median of
 * the choices on `rounds` bootstrap resamples of it (seeded), so that no single prompt near a threshold sets it.
 */
export function baggedDecision(
  api: Api,
  devZ: Float64Array[],
  dev: { y: number }[],
  fixedFirst: number | undefined,
  guard: { z: Float64Array[]; y: number[]; target: number } | undefined,
  allowed: UnderBound | undefined,
  rounds: number,
): Decision | undefined {
  const whole = chooseDecision(api, devZ, dev, fixedFirst, guard, allowed);
  if (!whole) return undefined;
  const taus: number[][] = [];
  for (let b = 0; b < rounds; b++) {
    const random = rng(7000 + b);
    const idx = dev.map(() => Math.floor(random() * dev.length));
    const d = chooseDecision(
      api,
      idx.map((i) => devZ[i]!),
      idx.map((i) => dev[i]!),
      fixedFirst,
      guard,
      allowed,
      "free",
      [whole.temperature],
    );
    if (d) taus.push(d.tau);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { temperature: whole.temperature, tau: [0, 1, 2].map((k) => median(taus.map((t) => t[k]!))) };
}

export function train(
  opts: {
    /** Bootstrap rounds of bagged thresholds (baggedDecision); none by default. */
    bagging?: number;
    /** "free": three thresholds on a grid (the default); "priced": in proportion to the price steps. */
    family?: "free" | "priced";
    /** The development half's under-routing allowed (default: at most DEV_UNDER_TARGET of its prompts). */
    bound?: UnderBound;
    seeds?: readonly number[];
    fits?: { first: Fit; final: Fit };
    write?: boolean;
    data?: ReturnType<typeof prepare>;
  } = {},
) {
  const seeds = opts.seeds ?? SEEDS;
  const { examples, inSrc, cross, dev } = opts.data ?? prepare();
  // 1. Fit without the cross sources; choose temperature and threshold on them.
  const first = opts.fits?.first ?? fitAveraged(inSrc, seeds);
  const firstQ = quantise(first.W);
  const crossZ = cross.map((e) => scores(e, firstQ.deq, first.D, first.b));
  let temperature = 1;
  let bestLoss = Infinity;
  for (let t = 1; t <= 12; t += 0.5) {
    const loss = cross.reduce((a, e, i) => a - Math.log(Math.max(1e-9, tempered(crossZ[i]!, t)[e.y]!)), 0) / cross.length;
    if (loss < bestLoss) [bestLoss, temperature] = [loss, t];
  }
  const crossP = crossZ.map((z) => Array.from(tempered(z, temperature)));
  let tau = 0.02;
  for (let t = 0.02; t <= 0.6; t += 0.01) {
    const under = cross.filter((e, i) => decide(crossP[i]!, t) < e.y).length / cross.length;
    if (under <= UNDER_TARGET) tau = Number(t.toFixed(2));
    else break;
  }
  const crossAcc = cross.filter((e, i) => decide(crossP[i]!, tau) === e.y).length / cross.length;
  const crossUnder = cross.filter((e, i) => decide(crossP[i]!, tau) < e.y).length / cross.length;
  // 2. The shipped model is fitted on everything, with the temperature found above.
  const final = opts.fits?.final ?? fitAveraged(examples, seeds);
  const { q, scale, deq } = quantise(final.W);
  // 3. The threshold is set on the development half of our own held-out set (other sources than the
  //    training data; the other half is only ever reported on), for the under-routing target.
  const devZ = dev.map((e) => scores(e, deq, final.D, final.b));
  const crossTau = tau;
  // The cross-source prompts, as scored by the first fit (which never saw their datasets), guard the choice:
  // the development half is small and from a few sources; a decision must also hold on datasets new to a model.
  const guard = { z: crossZ, y: cross.map((e) => e.y), target: CROSS_UNDER_TARGET };
  const decision = {} as Record<Api, Decision>;
  const devReport = {} as Record<Api, { under: number; cost: number }>;
  for (const api of APIS) {
    // Anthropic's cheap model serves simple and standard alike: its first boundary only names the tier, so
    // it follows OpenAI's (the same prompt gets the same tier name in both formats).
    const fixedFirst = api === "anthropic" ? decision.openai.tau[0] : undefined;
    const best = (opts.bagging
      ? baggedDecision(api, devZ, dev, fixedFirst, guard, opts.bound, opts.bagging)
      : chooseDecision(api, devZ, dev, fixedFirst, guard, opts.bound, opts.family)) ?? { temperature, tau: [tau, tau, tau] };
    decision[api] = best;
    const probs = devZ.map((z) => Array.from(tempered(z, best.temperature)));
    devReport[api] = {
      under: dev.filter((e, i) => modelUnder(api, decide(probs[i]!, best.tau), e.y)).length / dev.length,
      cost: dev.reduce((a, e, i) => a + tierCost(api, decide(probs[i]!, best.tau), e.y), 0) / dev.reduce((a, e) => a + tierCost(api, 3, e.y), 0),
    };
  }

  const summary = { decision, devReport, crossTau, temperature, n: examples.length, cross: cross.length, crossAcc, crossUnder, dev: dev.length, devZ, crossZ };
  if (opts.write === false) return { ...summary, version: "", bytes: 0 };
  const weights = Buffer.from(q.buffer).toString("base64");
  const round = (x: number) => Number(x.toPrecision(6));
  const version = createHash("sha256").update(weights).update(JSON.stringify(decision)).digest("hex").slice(0, 12);
  // The base64 weights go into several modules: one 700 KB module (larger still with its source map) is
  // more than the workerd test pool's module transport takes in one message ("Message is too large").
  const header = "// Generated by scripts/router-train/train.ts (npm run router:train): do not edit by hand.\n";
  const PARTS = 4;
  const partSize = Math.ceil(weights.length / PARTS / 4) * 4; // whole base64 quads
  const parts = Array.from({ length: PARTS }, (_, i) => weights.slice(i * partSize, (i + 1) * partSize));
  parts.forEach((part, i) =>
    writeFileSync(
      new URL(`../../edge/src/proxy/routing/model-weights-${i}.gen.ts`, import.meta.url),
      `${header}// Part ${i + 1} of ${PARTS} of the base64 int8 weights (modules stay small enough for the test pool).\nexport const PART = "${part}";\n`,
    ),
  );
  const imports = parts.map((_, i) => `import { PART as W${i} } from "./model-weights-${i}.gen";\n`).join("");
  const src = `${header}${imports}// Multinomial logistic regression, ${examples.length} training prompts, int8 weights (${q.length} bytes).
export const MODEL = {
  version: "${version}",
  hashBits: ${HASH_BITS},
  classes: ${JSON.stringify(TIER_ORDER)},
  /** Per wire format: the softmax temperature and the per-boundary thresholds (see decide.ts), chosen for that format's prices. */
  decision: ${JSON.stringify(decision)},
  bias: ${JSON.stringify(Array.from(final.b, round))},
  scale: ${JSON.stringify(scale.map(round))},
  dense: ${JSON.stringify(Array.from(final.D, round))},
  weights: ${parts.map((_, i) => `W${i}`).join(" + ")},
} as const;
`;
  writeFileSync(new URL("../../edge/src/proxy/routing/model.gen.ts", import.meta.url), src);
  return {
    version,
    decision,
    devReport,
    crossTau,
    temperature,
    n: examples.length,
    cross: cross.length,
    crossAcc,
    crossUnder,
    dev: dev.length,
    bytes: src.length + weights.length,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  const r = train();
  console.log(`trained on ${r.n} prompts in ${((Date.now() - t0) / 1000).toFixed(1)} s → model ${r.version} (${(r.bytes / 1024).toFixed(0)} KiB)`);
  console.log(
    `cross-source validation (${r.cross} prompts of sources left out of the first fit): temperature ${r.temperature}, τ=${r.crossTau}: accuracy ${(r.crossAcc * 100).toFixed(1)}%, under-routed ${(r.crossUnder * 100).toFixed(1)}%`,
  );
  for (const api of APIS)
    console.log(
      `own held-out, development half (${r.dev} prompts), ${api}: temperature ${r.decision[api].temperature}, τ=${r.decision[api].tau.join("/")} → under-routed ${(r.devReport[api].under * 100).toFixed(1)}% (model level), cost ${(r.devReport[api].cost * 100).toFixed(1)}% of the strongest model's`,
    );
}
