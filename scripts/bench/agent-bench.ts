// What the benchmarks that run real agents share: the agent's spec, a message that must be answered by the
// LLM stand-in, the zram device they doze into, and how they print a duration.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openclawConfig } from "@oc/contracts/openclaw-config";
import type { AgentRuntime, AgentSpec } from "../../node-agent/src/agent-lifecycle";

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

/** The benchmark's own zram device (scripts/lib/zram.sh; ZRAM_ALGO picks the compressor), removed by `down`. */
export function benchZram(name: string) {
  const state = join(tmpdir(), `oc-bench-${name}-${process.pid}.zram`);
  const run = (fn: string) =>
    execFileSync("bash", ["-c", `source scripts/lib/zram.sh && ${fn}`], {
      env: { ...process.env, ZRAM_STATE: state, ZRAM_TRAP: "0" },
      stdio: ["ignore", "ignore", "inherit"],
    });
  return {
    up: (mb: number) => run(`zram_up ${mb}`),
    down: () => run("zram_down"),
    algo: () => {
      const dev = readFileSync(state, "utf8").trim();
      return /\[([^\]]+)\]/.exec(readFileSync(`/sys/block/${dev}/comp_algorithm`, "utf8"))?.[1] ?? "?";
    },
  };
}

export const fmtMs = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);
