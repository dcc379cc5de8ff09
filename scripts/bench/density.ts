/**
 * Density benchmark with the real OpenClaw image on this machine's Docker engine and kernel: starts N agents
 * (each a 2 GiB container), lets them doze with reclaim into compressed swap (zram or zswap, set up by this
 * script and removed at exit), and prints what each really holds, the projected agents per 8 GiB node (all running vs
 * dozing), and p50/p95 of: thaw → /readyz, message → answer from a doze (through the node agent's deliver
 * path to the gateway, answered by the LLM stand-in), from a deep sleep on the same node, and after a node
 * loss (S3 restore).
 *
 *   npm run bench:density          N=4 RUNS=3 DOZE_S=90 (a doze longer than OpenClaw's 75 s freeze detector)
 *   knobs: IDLE_BEFORE_DOZE_S (default 20), DEEP_RUNS (default RUNS), SWAP_IN=before|beside, IDLE_CONTROL=1, DOZE_TARGET_MB (resident while dozing),
 *          SWAP_KIND=zram|zswap with ZRAM_ALGO (lz4, lzo-rle, …) or ZSWAP_ALGO (deflate, lz4, …)
 */
import Docker from "dockerode";
import { AgentRuntime } from "../../node-agent/src/agent-lifecycle";
import { askAgent, benchAgentSpec, dozeBench, fmtMs as fmt } from "./agent-bench";
import { Doze, type MemoryHeld } from "../../node-agent/src/doze";
import { SYSTEM_RESERVE_MB } from "@oc/contracts/capacity";
import { AGENT_IMAGE } from "@oc/contracts/agent-image";

const IMAGE = process.env.OPENCLAW_IMAGE ?? AGENT_IMAGE;
const N = Number(process.env.N ?? 4);
const RUNS = Number(process.env.RUNS ?? 3);
const DEEP_RUNS = Number(process.env.DEEP_RUNS ?? RUNS);
const DOZE_S = Number(process.env.DOZE_S ?? 90);
// The platform dozes an agent after 30 idle minutes, never right after an answer: the work OpenClaw queues
// behind a turn (memory indexing, session bookkeeping) has long finished by then. The bench waits this long
// after each agent's last answer before it freezes the agents (0: freeze at once, as the bench used to).
const IDLE_BEFORE_DOZE_S = Number(process.env.IDLE_BEFORE_DOZE_S ?? 20);
const LLM_PORT = Number(process.env.BENCH_LLM_PORT ?? 25139);
const NODE_MB = 8192;

const log = (m: string) => process.stderr.write(`[bench:density] ${m}\n`);

const rawDocker = new Docker({ socketPath: (process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock").replace("unix://", "") });
// DOZE_TARGET_MB: what a dozing agent keeps resident (the node agent's default otherwise).
const doze = new Doze(process.env.DOZE_TARGET_MB ? { targetMb: Number(process.env.DOZE_TARGET_MB) } : {});
// SWAP_IN=before|beside: the kernel reads the woken agent's swapped pages back in bulk (before the unpause or beside the answer).
const SWAP_IN = (process.env.SWAP_IN ?? "off") as "before" | "beside" | "off";
// IDLE_CONTROL=1: also the first answer after the same idle time without a doze (the control for the doze rows).
const IDLE_CONTROL = process.env.IDLE_CONTROL === "1";
const users = Array.from({ length: N }, (_, i) => `usr_${`density${i}`.padEnd(24, "x")}`);
const { docker, runtime, cleanup, algo } = await dozeBench("density", {
  llmPort: LLM_PORT,
  images: [IMAGE],
  runtime: { doze, swapInOnThaw: SWAP_IN },
  agents: () => users,
});
const specOf = (userId: string) => benchAgentSpec(userId, IMAGE, LLM_PORT);

async function heldOf(userId: string): Promise<MemoryHeld> {
  const mem = await docker.memoryInfo(AgentRuntime.containerName(userId));
  return (await doze.held(mem!.pid))!;
}

const message = (userId: string, text: string) => askAgent(runtime, userId, text);

/**
 * What one wake waited for: OpenClaw's own log lines from the thaw to the answer (times relative to the thaw,
 * from Docker's log timestamps), and how much of the agent was faulted back from swap by /readyz and by the
 * answer.
 */
async function timeline(userId: string, thawAt: number, readyMs: number, answerMs: number, atReady: MemoryHeld) {
  const after = await heldOf(userId);
  await new Promise((r) => setTimeout(r, 1500)); // the run's stage summary is logged after its answer
  const raw = await rawDocker
    .getContainer(AgentRuntime.containerName(userId))
    .logs({ stdout: true, stderr: true, timestamps: true, since: Math.floor(thawAt / 1000) - 1 })
    .catch(() => Buffer.from(""));
  log(
    `timeline of ${userId}: thaw → /readyz ${readyMs.toFixed(0)} ms, → answer ${answerMs.toFixed(0)} ms; swapped ${dozing[0]?.swappedMb ?? "?"} → ${atReady.swappedMb} at ready → ${after.swappedMb} MiB after the answer`,
  );
  for (const line of raw.toString("utf8").split("\n")) {
    const m = /(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) (.*)$/.exec(line);
    if (!m) continue;
    const at = Date.parse(m[1]!) - thawAt;
    if (at < -200 || at > answerMs + 10_000) continue;
    log(`  +${String(at).padStart(6)} ms  ${m[2]!.replace(/\s+/g, " ").slice(0, 220)}`);
  }
}

const results: Record<string, number[]> = {
  "warm message → answer": [],
  [`message → answer, idle ${DOZE_S} s awake`]: [],
  "thaw → /readyz": [],
  "message → answer, from doze": [],
  "message → answer, deep sleep (same node)": [],
  "  of which start → /readyz": [],
  "message → answer, after node loss (S3)": [],
  "  of which restore + start → /readyz": [],
};
const running: MemoryHeld[] = [];
const dozing: MemoryHeld[] = [];
const reclaimMs: number[] = [];
/** What the gateway's garbage collection gave back just before each freeze (MiB). */
const dozeGcMb: number[] = [];
const swapIns: number[] = [];
try {
  for (const u of users) {
    const t = performance.now();
    await runtime.provision(specOf(u));
    await message(u, "hello"); // the first answer of a fresh agent loads its model runtime
    log(`${u} provisioned and answered in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  for (const u of users) {
    const t = performance.now();
    await message(u, "warm ping");
    results["warm message → answer"]!.push(performance.now() - t);
    running.push(await heldOf(u));
  }
  if (IDLE_CONTROL) {
    // Control for the doze rows: the same idle time without a freeze, so what the first answer after any idle
    // period costs is told apart from what the doze itself costs.
    log(`idle control: ${N} agents running idle, waiting ${DOZE_S} s`);
    await new Promise((res) => setTimeout(res, DOZE_S * 1000));
    for (const u of users) {
      const t = performance.now();
      await message(u, "after idling awake");
      results[`message → answer, idle ${DOZE_S} s awake`]!.push(performance.now() - t);
    }
  }
  for (let r = 0; r < RUNS; r++) {
    await new Promise((res) => setTimeout(res, IDLE_BEFORE_DOZE_S * 1000));
    for (const u of users) {
      const { doze: outcome } = await runtime.pause(u);
      if (outcome?.mode !== "reclaimed") throw new Error(`${u} did not reclaim: ${outcome?.mode === "frozen" ? outcome.reason : "no doze"}`);
      reclaimMs.push(outcome.ms);
      if (runtime.lastDozeGcMb !== undefined) dozeGcMb.push(runtime.lastDozeGcMb);
      if (r === 0) dozing.push(outcome.held);
    }
    log(`run ${r + 1}/${RUNS}: ${N} agents dozing, waiting ${DOZE_S} s`);
    await new Promise((res) => setTimeout(res, DOZE_S * 1000));
    for (const u of users) {
      const t = performance.now();
      const thawAt = Date.now();
      const { readyMs } = await runtime.wake(specOf(u));
      const atReady = u === users[0] ? await heldOf(u) : undefined;
      await message(u, `after a doze ${r}`);
      results["thaw → /readyz"]!.push(readyMs);
      results["message → answer, from doze"]!.push(performance.now() - t);
      if (atReady) await timeline(u, thawAt, readyMs, performance.now() - t, atReady);
      const swapped = await runtime.lastSwapIn;
      if (swapped) swapIns.push(swapped.ms);
      runtime.lastSwapIn = undefined;
    }
  }
  const [u0] = users;
  // Where the slowest answers spent their time: OpenClaw logs each run's preparation stages.
  for (const u of users) {
    const raw = await rawDocker
      .getContainer(AgentRuntime.containerName(u))
      .logs({ stdout: true, stderr: true, tail: 2000 })
      .catch(() => Buffer.from(""));
    const logs = raw.toString("utf8");
    const prep = logs
      .split("\n")
      .filter((l) => l.includes("prep stages"))
      .map((l) => ({ total: Number(/totalMs=(\d+)/.exec(l)?.[1] ?? 0), stages: /stages=(\S+)/.exec(l)?.[1] ?? "" }));
    for (const p of prep.sort((a, b) => b.total - a.total).slice(0, 2)) log(`${u} slow run preparation ${p.total} ms: ${p.stages}`);
  }
  for (let r = 0; r < DEEP_RUNS; r++) {
    await runtime.sleep(u0!);
    let t = performance.now();
    const deep = await runtime.wake(specOf(u0!));
    await message(u0!, `after a deep sleep ${r}`);
    results["message → answer, deep sleep (same node)"]!.push(performance.now() - t);
    results["  of which start → /readyz"]!.push(deep.readyMs);
    await runtime.sleep(u0!);
    await runtime.remove(u0!, { deleteState: true }); // the node was lost: no container, no local state
    t = performance.now();
    await runtime.wake(specOf(u0!));
    const wokenMs = performance.now() - t;
    await message(u0!, `after a node loss ${r}`);
    results["message → answer, after node loss (S3)"]!.push(performance.now() - t);
    results["  of which restore + start → /readyz"]!.push(wokenMs);
    log(`deep sleep run ${r + 1}/${DEEP_RUNS} done`);
  }
} finally {
  await cleanup();
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

console.log(
  `\nDensity, ${N} agents × ${RUNS} runs, doze ${DOZE_S} s after ${IDLE_BEFORE_DOZE_S} s idle, image ${IMAGE} (2 GiB containers, ${algo}, ${doze.targetMb} MiB target, swap-in on thaw ${SWAP_IN})\n`,
);
console.log(
  `${"agent".padEnd(30)}${"running MiB".padStart(13)}${"dozing resident".padStart(17)}${"swapped".padStart(9)}${"compressed".padStart(12)}${"held".padStart(7)}`,
);
users.forEach((u, i) =>
  console.log(
    `${u.padEnd(30)}${String(running[i]!.residentMb).padStart(13)}${String(dozing[i]!.residentMb).padStart(17)}${String(dozing[i]!.swappedMb).padStart(9)}${String(dozing[i]!.compressedMb).padStart(12)}${String(dozing[i]!.residentMb + dozing[i]!.compressedMb).padStart(7)}`,
  ),
);
const usable = NODE_MB - SYSTEM_RESERVE_MB;
const runningMb = mean(running.map((h) => h.residentMb));
const dozingMb = mean(dozing.map((h) => h.residentMb + h.compressedMb));
const allRunning = Math.floor(usable / runningMb);
const allDozing = Math.floor(usable / dozingMb);
console.log(`\nreclaim took ${fmt(pct(reclaimMs, 50))} p50, ${fmt(pct(reclaimMs, 95))} p95 (frozen, off the answer path)`);
if (dozeGcMb.length > 0)
  console.log(`garbage collected before each freeze: ${pct(dozeGcMb, 50)} MiB p50, ${Math.min(...dozeGcMb)}–${Math.max(...dozeGcMb)} MiB`);
if (swapIns.length > 0) console.log(`bulk swap-in (${SWAP_IN} the unpause/answer): ${fmt(pct(swapIns, 50))} p50, ${fmt(pct(swapIns, 95))} p95`);
console.log(
  `projected agents per 8 GiB node (${usable} MiB usable): all running ${allRunning} (${runningMb.toFixed(0)} MiB each), dozing with reclaim ${allDozing} (${dozingMb.toFixed(0)} MiB each) → ${(allDozing / allRunning).toFixed(2)}× (goal ≥ 3×)\n`,
);
console.log(`${"path".padEnd(44)}${"p50".padStart(10)}${"p95".padStart(10)}${"max".padStart(10)}${"n".padStart(4)}`);
for (const [name, xs] of Object.entries(results).filter(([, xs]) => xs.length > 0))
  console.log(
    `${name.padEnd(44)}${fmt(pct(xs, 50)).padStart(10)}${fmt(pct(xs, 95)).padStart(10)}${fmt(Math.max(...xs)).padStart(10)}${String(xs.length).padStart(4)}`,
  );
console.log(
  `\ngoals: message→answer from doze ≤ 1.5 s p95: ${pct(results["message → answer, from doze"]!, 95) <= 1500 ? "met" : "NOT met"}; thaw→ready ≤ 300 ms p95: ${pct(results["thaw → /readyz"]!, 95) <= 300 ? "met" : "NOT met"}; deep-sleep wake ≤ 6 s p50: ${pct(results["message → answer, deep sleep (same node)"]!, 50) <= 6000 ? "met" : "NOT met"}; ≥ 3× per node: ${allDozing / allRunning >= 3 ? "met" : "NOT met"}`,
);
