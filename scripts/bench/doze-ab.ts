/**
 * Agent images side by side on one run, for comparing an image change by what dozing agents hold and how
 * they wake (runs on different days or machines vary too much to compare; this machine's speed changes
 * within an hour). PER agents of each image answer, idle IDLE_S seconds, are dozed with reclaim together,
 * stay frozen DOZE_S seconds, and are woken one by one, in a different order each round. Prints per image:
 * warm answers, resident MiB before each doze, held (resident + compressed) and swapped MiB while dozing,
 * thaw → /readyz and message → answer from the doze.
 *
 *   IMAGES=openclaw-agent:…-r12,openclaw-agent:…-r13 npm run bench:doze-ab     PER=1 ROUNDS=3 DOZE_S=90 IDLE_S=20
 *   (SWAP_KIND, ZRAM_ALGO, ZSWAP_ALGO, SWAP_IN as in bench:density)
 */
import { AgentRuntime } from "../../node-agent/src/agent-lifecycle";
import { askAgent, benchAgentSpec, dozeBench, fmtMs as fmt } from "./agent-bench";
import { Doze, type MemoryHeld } from "../../node-agent/src/doze";
import { AGENT_IMAGE } from "@oc/contracts/agent-image";

const IMAGES = (process.env.IMAGES ?? AGENT_IMAGE).split(",").filter(Boolean);
const PER = Number(process.env.PER ?? 1);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const DOZE_S = Number(process.env.DOZE_S ?? 90);
const IDLE_S = Number(process.env.IDLE_S ?? 20);
const LLM_PORT = Number(process.env.BENCH_LLM_PORT ?? 25141);
const SWAP_IN = (process.env.SWAP_IN ?? "off") as "before" | "beside" | "off";
const log = (m: string) => process.stderr.write(`[bench:doze-ab ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const doze = new Doze();
const agents = IMAGES.flatMap((image, i) => Array.from({ length: PER }, (_, k) => ({ image, userId: `usr_${`dozeab${i}x${k}`.padEnd(24, "x")}` })));
const { docker, runtime, cleanup, algo } = await dozeBench("doze-ab", {
  llmPort: LLM_PORT,
  images: IMAGES,
  runtime: { doze, swapInOnThaw: SWAP_IN },
  agents: () => agents.map((a) => a.userId),
});
const spec = (a: (typeof agents)[number]) => benchAgentSpec(a.userId, a.image, LLM_PORT);
const heldOf = async (u: string): Promise<MemoryHeld> => (await doze.held((await docker.memoryInfo(AgentRuntime.containerName(u)))!.pid))!;
const rows = new Map<string, { running: number[]; held: number[]; swapped: number[]; gc: number[]; thaw: number[]; answer: number[]; warm: number[] }>();
for (const im of IMAGES) rows.set(im, { running: [], held: [], swapped: [], gc: [], thaw: [], answer: [], warm: [] });
try {
  for (const a of agents) {
    const t = performance.now();
    await runtime.provision(spec(a));
    await askAgent(runtime, a.userId, "hello");
    log(`${a.image} ${a.userId} up in ${fmt(performance.now() - t)}`);
  }
  for (const a of agents)
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await askAgent(runtime, a.userId, `warm ${i}`);
      rows.get(a.image)!.warm.push(performance.now() - t);
    }
  for (let r = 0; r < ROUNDS; r++) {
    await new Promise((res) => setTimeout(res, IDLE_S * 1000));
    for (const a of agents) rows.get(a.image)!.running.push((await heldOf(a.userId)).residentMb);
    for (const a of agents) {
      const { doze: o } = await runtime.pause(a.userId);
      if (o?.mode !== "reclaimed") throw new Error(`no reclaim: ${JSON.stringify(o)}`);
      rows.get(a.image)!.gc.push(runtime.lastDozeGcMb ?? 0);
    }
    // Held is read once all are in zram, so every agent is counted at the same compression ratio.
    for (const a of agents) {
      const h = await heldOf(a.userId);
      rows.get(a.image)!.held.push(h.residentMb + h.compressedMb);
      rows.get(a.image)!.swapped.push(h.swappedMb);
    }
    log(`round ${r + 1}: dozing ${DOZE_S} s`);
    await new Promise((res) => setTimeout(res, DOZE_S * 1000));
    const order = agents.map((_, i) => agents[(i + r) % agents.length]!);
    for (const a of order) {
      const t = performance.now();
      const { readyMs } = await runtime.wake(spec(a));
      await askAgent(runtime, a.userId, `after doze ${r}`);
      const ms = performance.now() - t;
      rows.get(a.image)!.thaw.push(readyMs);
      rows.get(a.image)!.answer.push(ms);
      log(`${a.image}: thaw ${fmt(readyMs)} answer ${fmt(ms)}`);
    }
  }
} finally {
  await cleanup();
}
const j = (xs: number[], f = (x: number) => x.toFixed(0)) => xs.map(f).join(" / ");
console.log(`\nDoze A/B, ${PER} per image, ${ROUNDS} rounds, doze ${DOZE_S} s after ${IDLE_S} s idle, ${algo}, swap-in on thaw ${SWAP_IN}\n`);
for (const [im, r] of rows) {
  console.log(`${im}`);
  console.log(`  warm    ${j(r.warm, fmt)}`);
  console.log(`  running ${j(r.running)} MiB`);
  console.log(`  held    ${j(r.held)} MiB (swapped ${j(r.swapped)})`);
  console.log(`  garbage collected before the freeze ${j(r.gc)} MiB`);
  console.log(`  thaw    ${j(r.thaw, fmt)}`);
  console.log(`  answer  ${j(r.answer, fmt)}`);
}
