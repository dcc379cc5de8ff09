/**
 * Agent lifecycle benchmark on the real Docker engine with the real OpenClaw image (node-agent/image) and a
 * local S3-compatible store: provision, wake from a pause, wake on the same node (plain start), and wake
 * after a loss (restore from S3), each until OpenClaw's /readyz answers JSON. Prints p50/p95/max per path.
 *
 *   npm run bench:agents            (RUNS=5 by default; scripts/bench/agents.sh starts dockerd)
 */
import { openclawConfig } from "@oc/contracts/openclaw-config";
import { AgentRuntime, type AgentSpec } from "../../node-agent/src/agent-lifecycle";
import { localRuntime } from "../../node-agent/test/local-runtime";
import { fmtMs as fmt } from "./agent-bench";
import { AGENT_IMAGE } from "@oc/contracts/agent-image";

const IMAGE = process.env.OPENCLAW_IMAGE ?? AGENT_IMAGE;
const RUNS = Number(process.env.RUNS ?? 5);

const { runtime, docker, close } = await localRuntime(120_000);
if (!(await docker.hasImage(IMAGE))) throw new Error(`image ${IMAGE} missing: run node-agent/image/build.sh`);

const userId = `usr_${"bench".repeat(5).slice(0, 24)}`;
const host = `${userId.replace(/_/g, "-")}.agents.example.com`;
const spec: AgentSpec = {
  userId,
  image: IMAGE,
  host,
  // Readiness needs no model call, so the proxy URL need not answer.
  config: openclawConfig({
    host,
    edgeUrl: "http://host.docker.internal:9",
    proxyKey: "ocx_bench_key",
    openaiModels: [{ id: "auto", contextWindow: 200_000, maxTokens: 4096 }],
  }),
  gatewayToken: "b".repeat(48),
  memoryMb: 2048,
  cpus: 2,
  pidsLimit: 512,
  user: "1000:1000",
};

/** Wall time of one wake, from the command to /readyz (what a queued message waits for). */
async function timed(fn: () => Promise<unknown>) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const results: Record<string, number[]> = {
  "provision (new container)": [],
  "wake from pause": [],
  "wake, same node (plain start)": [],
  "wake after loss (S3 restore)": [],
};
const archiveSizes: number[] = [];
try {
  for (let i = 0; i < RUNS; i++) {
    await runtime.remove(userId, { deleteState: true }).catch(() => {});
    results["provision (new container)"]!.push(await timed(() => runtime.provision(spec)));
    await runtime.pause(userId);
    results["wake from pause"]!.push(await timed(() => runtime.wake(spec)));
    archiveSizes.push((await runtime.sleep(userId)).bytes);
    results["wake, same node (plain start)"]!.push(await timed(() => runtime.wake(spec)));
    await runtime.sleep(userId);
    await runtime.remove(userId, { deleteState: true }); // the node lost it: no container, no local state
    results["wake after loss (S3 restore)"]!.push(await timed(() => runtime.wake(spec)));
    process.stderr.write(`run ${i + 1}/${RUNS} done\n`);
  }
} finally {
  await runtime.remove(userId, { deleteState: true }).catch(() => {});
  await close();
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
console.log(`\nAgent lifecycle, ${RUNS} runs, image ${IMAGE} (to OpenClaw /readyz; 2 CPUs, 2 GiB per container)\n`);
console.log(`${"path".padEnd(34)}${"p50".padStart(10)}${"p95".padStart(10)}${"max".padStart(10)}`);
for (const [name, xs] of Object.entries(results))
  console.log(`${name.padEnd(34)}${fmt(pct(xs, 50)).padStart(10)}${fmt(pct(xs, 95)).padStart(10)}${fmt(Math.max(...xs)).padStart(10)}`);
console.log(`\nstate archive size: ${(archiveSizes.reduce((a, b) => a + b, 0) / archiveSizes.length / 1024).toFixed(0)} KiB average`);
console.log(
  `goal: wake <= 3 s p95 on the same node -> ${pct(results["wake from pause"]!, 95) <= 3000 ? "met" : "NOT met"} from a pause, ${pct(results["wake, same node (plain start)"]!, 95) <= 3000 ? "met" : "NOT met"} from a deep sleep`,
);
