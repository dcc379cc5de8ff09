import { openclawConfig } from "@oc/contracts/openclaw-config";
import type { AgentSpec } from "../../node-agent/src/agent-lifecycle";

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
