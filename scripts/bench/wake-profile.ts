/**
 * Where the first answer after an idle period spends its time: one real agent (the OpenClaw image, its
 * gateway started with the V8 inspector on its private bridge address), CPU profiles of its main thread for
 * warm answers, the first answer after IDLE_S seconds awake and, with DOZE=1, the first answer after a doze
 * of the same length (frozen, memory reclaimed into a zram device this script sets up and removes). For each
 * answer it prints the time, the main thread's busy and waiting time, the functions with the most self time
 * and the longest waits with the stacks around them (a wait on a worker thread or a child process shows
 * there), then the same for each worker thread that was busy, with when it was attached and busy (a worker
 * started during the answer is its pool's first use, or a retired worker started again). The raw profiles
 * are written to BENCH_PROFILE_DIR (default: a temporary folder) for Chrome DevTools.
 *
 *   npm run bench:wake-profile        IDLE_S=90 DOZE=1
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentRuntime } from "../../node-agent/src/agent-lifecycle";
import { Doze } from "../../node-agent/src/doze";
import { localRuntime } from "../../node-agent/test/local-runtime";
import { startLlmStandIn } from "../../test-harness/stand-ins/llm.ts";
import { askAgent, benchAgentSpec, benchSwap, fmtMs as fmt } from "./agent-bench";
import { busySpan, longestWaits, profileThreads, summarise } from "./profile";
import { AGENT_IMAGE } from "@oc/contracts/agent-image";

const IMAGE = process.env.OPENCLAW_IMAGE ?? AGENT_IMAGE;
const IDLE_S = Number(process.env.IDLE_S ?? 90);
const DOZE = process.env.DOZE === "1";
const LLM_PORT = Number(process.env.BENCH_LLM_PORT ?? 25139);
const OUT = process.env.BENCH_PROFILE_DIR ?? mkdtempSync(join(tmpdir(), "oc-wake-profile-"));
const INSPECTOR = 9229;
mkdirSync(OUT, { recursive: true });

const log = (m: string) => process.stderr.write(`[bench:wake-profile] ${m}\n`);
const swap = benchSwap("wake");

const { docker, runtime, close } = await localRuntime(180_000, { doze: new Doze() });
if (!(await docker.hasImage(IMAGE))) throw new Error(`image ${IMAGE} missing: run node-agent/image/build.sh`);
const llm = await startLlmStandIn({ port: LLM_PORT, host: "0.0.0.0" });
const user = `usr_${"wakeprofile".padEnd(24, "x")}`;
// oc-start as the image has it, its gateway with the inspector listening inside the container's own network.
const cmd = [
  "sh",
  "-c",
  `sed 's|^exec node |exec node --inspect=0.0.0.0:${INSPECTOR} |' /usr/local/bin/oc-start > /tmp/oc-start-inspect && exec sh /tmp/oc-start-inspect --bind lan --port 18789`,
];
const spec = benchAgentSpec(user, IMAGE, LLM_PORT, cmd);

async function profiled(label: string, text: string) {
  const ip = await docker.ipOn(AgentRuntime.containerName(user), AgentRuntime.networkName(user));
  const [target] = (await (await fetch(`http://${ip}:${INSPECTOR}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  let answerMs = 0;
  const threads = await profileThreads(target!.webSocketDebuggerUrl, join(OUT, label.replace(/\W+/g, "-")), async () => {
    const t = performance.now();
    await askAgent(runtime, user, text);
    answerMs = performance.now() - t;
  });
  const main = threads[0]!.profile!;
  const s = summarise(main, 6);
  console.log(`\n${label}: answer ${fmt(answerMs)}; main thread busy ${fmt(s.busyMs)}, waiting ${fmt(s.totalMs - s.busyMs)}`);
  for (const f of s.top.filter((f) => f.fn !== "(idle)  :0")) console.log(`  ${f.ms.toFixed(0).padStart(6)} ms  ${f.fn}`);
  for (const w of longestWaits(main)) console.log(`  wait ${fmt(w.ms)} at +${fmt(w.atMs)}\n    after  ${w.before}\n    resumed ${w.after}`);
  for (const t of threads.slice(1)) {
    if (!t.profile) {
      console.log(`  worker ${t.thread}: attached at +${fmt(t.attachedAtMs)}, no profile`);
      continue;
    }
    const w = summarise(t.profile, 6);
    if (w.busyMs < 5) continue;
    const span = busySpan(t.profile, main.startTime);
    console.log(`  worker ${t.thread}: attached at +${fmt(t.attachedAtMs)}, busy ${fmt(w.busyMs)} between +${fmt(span.first)} and +${fmt(span.last)}`);
    for (const f of w.top.filter((f) => f.fn !== "(idle)  :0")) console.log(`    ${f.ms.toFixed(0).padStart(6)} ms  ${f.fn}`);
  }
}

try {
  if (DOZE) swap.up(4096);
  await runtime.provision(spec);
  await askAgent(runtime, user, "hello"); // the first answer of a fresh agent loads its model runtime
  await profiled("warm answer", "warm ping");
  await profiled("warm answer again", "warm ping again");
  log(`idling ${IDLE_S} s awake`);
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  await profiled(`first answer after ${IDLE_S} s awake`, "after idling awake");
  if (DOZE) {
    const { doze } = await runtime.pause(user);
    log(`dozing ${IDLE_S} s (${doze?.mode ?? "no doze"})`);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const { readyMs } = await runtime.wake(spec);
    log(`thaw → /readyz ${fmt(readyMs)}`);
    await profiled(`first answer after a ${IDLE_S} s doze`, "after a doze");
  }
  console.log(`\nprofiles: ${OUT}`);
} finally {
  await runtime.remove(user, { deleteState: true }).catch(() => {});
  if (DOZE) swap.down();
  await close().catch(() => {});
  llm.close();
}
