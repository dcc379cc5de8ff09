// What the benchmarks that run real agents share: the agent's spec, a message that must be answered by the
// LLM stand-in, the compressed swap they doze into, what a doze benchmark stands on, and how they print a duration.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openclawConfig } from "@oc/contracts/openclaw-config";
import type { AgentRuntime, AgentSpec } from "../../node-agent/src/agent-lifecycle";
import { localRuntime } from "../../node-agent/test/local-runtime";
import { startLlmStandIn } from "../../test-harness/stand-ins/llm.ts";

/**
 * A benchmark agent: the real image in a 2 GiB container, its model provider the LLM stand-in on this
 * machine (reached through host.docker.internal, the node's bridge gateway). `cmd` replaces the image's.
 */
export function benchAgentSpec(userId: string, image: string, llmPort: number, cmd?: string[]): AgentSpec {
  const host = `${userId.replace(/_/g, "-")}.agents.example.com`;
  return {
    userId,
    image,
    host,
    config: openclawConfig({
      host,
      edgeUrl: `http://host.docker.internal:${llmPort}`,
      proxyKey: "ocx_bench_key",
      openaiModels: [{ id: "auto", contextWindow: 200_000, maxTokens: 4096 }],
    }),
    gatewayToken: `${userId.slice(4)}${"t".repeat(24)}`,
    memoryMb: 2048,
    cpus: 2,
    pidsLimit: 512,
    user: "1000:1000",
    ...(cmd ? { cmd } : {}),
  };
}

/** A message through the node agent's deliver path; fails loudly unless the stand-in answered. */
export async function askAgent(runtime: AgentRuntime, userId: string, text: string) {
  const { reply } = await runtime.deliver(userId, "bench", text);
  if (!reply.includes("[dev stand-in]")) throw new Error(`unexpected reply from ${userId}: ${reply.slice(0, 200)}`);
  return reply;
}

/**
 * The benchmark's own compressed swap, removed by `down`: a zram device (scripts/lib/zram.sh; ZRAM_ALGO picks
 * its compressor), or with SWAP_KIND=zswap a swap file behind zswap (scripts/lib/zswap.sh; ZSWAP_ALGO).
 */
export function benchSwap(name: string) {
  const kind = process.env.SWAP_KIND === "zswap" ? "zswap" : "zram";
  const state = join(tmpdir(), `oc-bench-${name}-${process.pid}.${kind}`);
  const run = (fn: string) =>
    execFileSync("bash", ["-c", `source scripts/lib/${kind}.sh && ${kind}_${fn}`], {
      env: { ...process.env, ZRAM_STATE: state, ZRAM_TRAP: "0", ZSWAP_STATE: state, ZSWAP_TRAP: "0" },
      stdio: ["ignore", "ignore", "inherit"],
    });
  return {
    up: (mb: number) => run(`up ${mb}`),
    down: () => run("down"),
    /** What the agents doze into, as the benchmark prints it ("zram lz4", "zswap deflate"). */
    algo: () => {
      if (kind === "zswap") return `zswap ${readFileSync("/sys/module/zswap/parameters/compressor", "utf8").trim()}`;
      const dev = readFileSync(state, "utf8").trim();
      return `zram ${/\[([^\]]+)\]/.exec(readFileSync(`/sys/block/${dev}/comp_algorithm`, "utf8"))?.[1] ?? "?"}`;
    },
  };
}

/**
 * What a doze benchmark stands on: a local runtime with these options (Docker + a local S3), the LLM stand-in on
 * every interface (the containers reach it through host.docker.internal, the node's bridge gateway) and 6 GiB
 * of compressed swap of its own (`benchSwap`). `cleanup` removes the agents `agents()` names, then all of that; Ctrl-C runs it too,
 * and so does a failed start (a missing image).
 */
export async function dozeBench(
  name: string,
  opts: { llmPort: number; images: string[]; runtime: Parameters<typeof localRuntime>[1]; agents: () => string[] },
) {
  const swap = benchSwap(name);
  const { docker, runtime, close } = await localRuntime(180_000, opts.runtime);
  const llm = await startLlmStandIn({ port: opts.llmPort, host: "0.0.0.0" }).catch(async (e: unknown) => {
    await close();
    throw e;
  });
  const cleanup = async () => {
    for (const u of opts.agents()) await runtime.remove(u, { deleteState: true }).catch(() => {});
    swap.down();
    await close().catch(() => {});
    llm.close();
  };
  process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    for (const image of opts.images) if (!(await docker.hasImage(image))) throw new Error(`image ${image} missing: run node-agent/image/build.sh`);
    swap.up(6144);
    return { docker, runtime, cleanup, algo: swap.algo() };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export const fmtMs = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);
