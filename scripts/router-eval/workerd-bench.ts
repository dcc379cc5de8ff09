// Decision time of the smart router inside workerd (`npm run router:bench`): the router is bundled into a
// small Worker run by Miniflare (the workerd the tests use), fed a ~60 KB OpenClaw request. workerd's clock
// does not advance during synchronous work, so the Worker runs K decisions per request and the time is
// taken outside: (time with K decisions − time with none) / K, over many requests.
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { generateTraces } from "./traces";
import { SETS, quantile } from "./eval";

const K = 40;
const ROUNDS = 150;

const entry = `
import { SEED_VIEW } from "../../edge/src/proxy/catalog";
import { pickRoute, planRoute } from "../../edge/src/proxy/routing/plan";
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const k = Number(url.searchParams.get("k"));
    const body = await request.json();
    const api = url.searchParams.get("api");
    let last;
    for (let i = 0; i < k; i++) last = pickRoute(planRoute(api, body, SEED_VIEW, 60_000, 4096), undefined, Date.now());
    return new Response(last ? last.model : "none");
  },
};`;

const out = await build({
  stdin: { contents: entry, resolveDir: new URL(".", import.meta.url).pathname, loader: "js" },
  bundle: true,
  format: "esm",
  write: false,
  platform: "neutral",
  target: "es2022",
  mainFields: ["module", "main"],
  conditions: ["workerd", "worker", "import"],
});
const mf = new Miniflare({
  workers: [
    {
      config: {
        name: "router-bench",
        compatibilityDate: "2026-11-01",
        manifest: { mainModule: "bench.mjs", modules: { "bench.mjs": { type: "esm", contents: out.outputFiles[0]!.text } } },
      },
    },
  ],
} as never);
const url = await mf.ready;

// The agent calls of a few traces, picked near 60 KB (OpenClaw's "Say hi" request is 60.5 KB).
const calls = generateTraces(SETS.ownAll(), 12).filter((c) => JSON.stringify(c.openai).length < 75_000);
const run = async (k: number, body: string, api: string) => {
  const t = performance.now();
  const r = await fetch(`${url}?k=${k}&api=${api}`, { method: "POST", body });
  await r.text();
  return performance.now() - t;
};
const results: Record<string, number[]> = {};
for (const api of ["openai", "anthropic"] as const) {
  const per: number[] = [];
  const bodies = calls.map((c) => JSON.stringify(c[api]));
  for (let i = 0; i < 10; i++) await run(K, bodies[i % bodies.length]!, api); // warm up (weights decoded, JIT)
  for (let i = 0; i < ROUNDS; i++) {
    const body = bodies[i % bodies.length]!;
    const zero = await run(0, body, api);
    const full = await run(K, body, api);
    per.push(Math.max(0, full - zero) / K);
  }
  results[api] = per;
}
await mf.dispose();
console.log(
  `decision time inside workerd (plan + pick; ${calls.length} agent calls of ${Math.round(Math.min(...calls.map((c) => JSON.stringify(c.openai).length)) / 1024)}–${Math.round(Math.max(...calls.map((c) => JSON.stringify(c.openai).length)) / 1024)} KB, ${K} decisions per request, ${ROUNDS} requests per format):`,
);
for (const [api, per] of Object.entries(results))
  console.log(
    `  ${api.padEnd(9)} p50 ${quantile(per, 0.5).toFixed(3)} ms · p99 ${quantile(per, 0.99).toFixed(3)} ms (per decision, averaged over ${K} within a request)`,
  );
