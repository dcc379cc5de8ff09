// Compares training candidates and threshold rules on the development half of our own held-out set only
// (never on the public held-out set): `npx tsx scripts/router-train/dev-compare.ts`.
// For each shuffle seed alone and for their weight average it prints the development half's model-level
// under-routing and cost (% of always using the strongest model) per wire format, and, for each threshold
// rule, a leave-one-source-out estimate: the thresholds are chosen on the development half without one
// source group and scored on that group, which is how a rule fares on prompts from sources it has not seen
// (the public set is such a source). Runs are cached in ROUTER_FIT_CACHE (default /tmp/router-fits).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { decide } from "../../edge/src/proxy/routing/decide";
import {
  COMPARE_SEEDS,
  averageFits,
  baggedDecision,
  chooseDecision,
  fitModel,
  loadTraining,
  modelUnder,
  pointBound,
  prepare,
  quantise,
  scores,
  tempered,
  tierCost,
  train,
  type UnderBound,
} from "./train";

type Fit = ReturnType<typeof fitModel>;
const APIS = ["openai", "anthropic"] as const;
const CACHE = process.env.ROUTER_FIT_CACHE ?? "/tmp/router-fits";

function cachedFit(tag: string, which: string, seed: number, fit: () => Fit): Fit {
  mkdirSync(CACHE, { recursive: true });
  const file = `${CACHE}/${tag}-${which}-${seed}.bin`;
  if (existsSync(file)) {
    const buf = readFileSync(file);
    const f = JSON.parse(buf.subarray(0, buf.indexOf(10)).toString()) as { w: number; d: number; b: number[] };
    const body = buf.subarray(buf.indexOf(10) + 1);
    const all = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    return { W: all.slice(0, f.w), D: all.slice(f.w, f.w + f.d), b: Float64Array.from(f.b) };
  }
  const r = fit();
  const head = Buffer.from(`${JSON.stringify({ w: r.W.length, d: r.D.length, b: Array.from(r.b) })}\n`);
  const body = new Float32Array(r.W.length + r.D.length);
  body.set(r.W);
  body.set(r.D, r.W.length);
  writeFileSync(file, Buffer.concat([head, Buffer.from(body.buffer)]));
  return r;
}

/** Leave-one-source-out groups of the development half. */
const groupOf = (src: string) => {
  const s = src.split(":")[0]!;
  return s === "amc23" || s === "minerva-math" ? "maths" : s;
};

const wilsonUpper = (k: number, n: number, z = 1.645) => {
  const p = k / n;
  const d = 1 + (z * z) / n;
  return (p + (z * z) / (2 * n) + z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
};
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
export const RULES: Record<string, UnderBound> = {
  "point ≤3%": pointBound(0.03),
  "point ≤2%": pointBound(0.02),
  "point ≤1.5%": pointBound(0.015),
  "Wilson 95% upper ≤5%": (u, n) => wilsonUpper(sum(u), sum(n)) <= 0.05,
  "Wilson 95% upper ≤4%": (u, n) => wilsonUpper(sum(u), sum(n)) <= 0.04,
  // Every class alike, whatever the mix of the traffic: the mean of the per-class shares routed under.
  "class mean ≤3%": (u, n) => {
    const r = u.map((x, c) => (n[c]! ? x / n[c]! : 0)).filter((_, c) => c > 0);
    return sum(r) / r.length <= 0.03;
  },
  "every class ≤5%": (u, n) => u.every((x, c) => !n[c] || x / n[c]! <= 0.05),
};

function main() {
  const data = prepare(loadTraining());
  const tag = createHash("sha256")
    .update(readFileSync(new URL("./data/train.jsonl", import.meta.url)))
    .digest("hex")
    .slice(0, 10);
  const seeds = (process.env.ROUTER_SEEDS ?? COMPARE_SEEDS.join(",")).split(",").map(Number);
  // ROUTER_FAMILY: "free" (three thresholds searched on a grid) or "priced" (in proportion to the price steps).
  const family = (process.env.ROUTER_FAMILY ?? "free") as "free" | "priced";
  // ROUTER_BAG: bootstrap rounds of bagged thresholds (0: the plain choice).
  const bagging = Number(process.env.ROUTER_BAG ?? 0);
  const rules = (process.env.ROUTER_RULES ?? Object.keys(RULES).join("|")).split("|");
  // ROUTER_EPOCHS / ROUTER_L2: other training settings than the shipped 6 epochs and L2 1e-4.
  const hp = { epochs: Number(process.env.ROUTER_EPOCHS ?? 6), l2: Number(process.env.ROUTER_L2 ?? 1e-4) };
  const hpTag = hp.epochs === 6 && hp.l2 === 1e-4 ? tag : `${tag}-e${hp.epochs}-l${hp.l2}`;
  const runs = seeds.map((s) => ({
    first: cachedFit(hpTag, "first", s, () => fitModel(data.inSrc, s, hp)),
    final: cachedFit(hpTag, "final", s, () => fitModel(data.examples, s, hp)),
  }));
  const variants: [string, { first: Fit; final: Fit }][] = [
    // ROUTER_SINGLES: which seeds are also shown alone ("none", or a list; all by default).
    ...runs
      .map((r, i) => [`seed ${seeds[i]}`, r] as [string, typeof r])
      .filter((_, i) => !process.env.ROUTER_SINGLES || process.env.ROUTER_SINGLES.split(",").includes(String(seeds[i]))),
    [`mean of seeds ${seeds.join(",")}`, { first: averageFits(runs.map((r) => r.first)), final: averageFits(runs.map((r) => r.final)) }],
  ];
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  console.log(
    `training data ${hpTag}, development half ${data.dev.length} prompts, ${family} thresholds${bagging ? `, bagged over ${bagging} resamples` : ""}`,
  );
  console.log("| model | rule | dev under openai / anthropic | dev cost openai / anthropic | leave-one-source-out under | its cost |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  const groups = [...new Set(data.dev.map((e) => groupOf(e.src)))];
  for (const [name, fits] of variants) {
    const deq = quantise(fits.final.W).deq;
    const devZ = data.dev.map((e) => scores(e, deq, fits.final.D, fits.final.b));
    for (const rule of rules) {
      const r = train({ fits, data, write: false, bound: RULES[rule], family, bagging });
      const guard = { z: r.crossZ, y: data.cross.map((e) => e.y), target: 0.04 };
      const loso = { openai: { under: 0, cost: 0, strongest: 0 }, anthropic: { under: 0, cost: 0, strongest: 0 } };
      for (const g of groups) {
        const fitIdx = data.dev.map((e, i) => (groupOf(e.src) === g ? -1 : i)).filter((i) => i >= 0);
        const z = fitIdx.map((i) => devZ[i]!),
          y = fitIdx.map((i) => data.dev[i]!);
        let first: number | undefined;
        for (const api of APIS) {
          const fixed = api === "anthropic" ? first : undefined;
          const d = (bagging
            ? baggedDecision(api, z, y, fixed, guard, RULES[rule], bagging)
            : chooseDecision(api, z, y, fixed, guard, RULES[rule], family)) ?? { temperature: 1, tau: [0.02, 0.02, 0.02] };
          first = d.tau[0];
          data.dev.forEach((e, i) => {
            if (groupOf(e.src) !== g) return;
            const k = decide(tempered(devZ[i]!, d.temperature), d.tau);
            if (modelUnder(api, k, e.y)) loso[api].under++;
            loso[api].cost += tierCost(api, k, e.y);
            loso[api].strongest += tierCost(api, 3, e.y);
          });
        }
      }
      const l = (api: "openai" | "anthropic") => ({ under: loso[api].under / data.dev.length, cost: loso[api].cost / loso[api].strongest });
      console.log(
        `| ${name} | ${rule} | ${pct(r.devReport.openai.under)} / ${pct(r.devReport.anthropic.under)} | ${pct(r.devReport.openai.cost)} / ${pct(r.devReport.anthropic.cost)} | ${pct(l("openai").under)} / ${pct(l("anthropic").under)} | ${pct(l("openai").cost)} / ${pct(l("anthropic").cost)} |`,
      );
    }
  }
}

main();
