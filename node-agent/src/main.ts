import { z } from "zod";
import { DockerodeClient } from "./docker";
import { NodeAgent } from "./agent";

/** The daemon's env, checked at start so a misconfigured VPS says exactly what is missing. */
const env = z
  .object({
    EDGE_URL: z.url(),
    NODE_ID: z.string().min(1),
    NODE_SECRET: z.string().min(16),
    DOCKER_HOST: z.string().optional(),
  })
  .safeParse(process.env);

if (!env.success) {
  console.error(`[node-agent] invalid environment:\n  ${env.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  ")}`);
  process.exit(1);
}

const docker = new DockerodeClient(env.data.DOCKER_HOST);
const dockerUp = await docker.ping();
console.log(`[node-agent] node ${env.data.NODE_ID} → ${env.data.EDGE_URL} (docker ${dockerUp ? "reachable" : "NOT reachable"})`);
const agent = new NodeAgent({ edgeUrl: env.data.EDGE_URL, nodeId: env.data.NODE_ID, secret: env.data.NODE_SECRET, docker: dockerUp ? docker : undefined });
agent.start();
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => (agent.stop(), process.exit(0)));
