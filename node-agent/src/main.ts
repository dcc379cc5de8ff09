import { z } from "zod";
import { AgentRuntime } from "./agents";
import { DockerodeClient } from "./docker";
import { NodeAgent } from "./agent";
import { StateStore, s3FromEnv } from "./state-store";

/** The daemon's env, checked at start so a misconfigured VPS says exactly what is missing. */
const env = z
  .object({
    EDGE_URL: z.url(),
    NODE_ID: z.string().min(1),
    NODE_SECRET: z.string().min(16),
    DOCKER_HOST: z.string().optional(),
    /** Where agents' state dirs live on this node. */
    AGENT_STATE_ROOT: z.string().default("/var/lib/openclaw/agents"),
    /** The Traefik container to connect to every agent network. */
    TRAEFIK_CONTAINER: z.string().optional(),
    S3_BUCKET: z.string().default("openclaw-state"),
  })
  .safeParse(process.env);

if (!env.success) {
  console.error(`[node-agent] invalid environment:\n  ${env.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  ")}`);
  process.exit(1);
}

const docker = new DockerodeClient(env.data.DOCKER_HOST);
const dockerUp = await docker.ping();
console.log(`[node-agent] node ${env.data.NODE_ID} → ${env.data.EDGE_URL} (docker ${dockerUp ? "reachable" : "NOT reachable"})`);
const runtime = dockerUp
  ? new AgentRuntime(docker, new StateStore(s3FromEnv()), { stateRoot: env.data.AGENT_STATE_ROOT, traefikContainer: env.data.TRAEFIK_CONTAINER })
  : undefined;
const agent = new NodeAgent({ edgeUrl: env.data.EDGE_URL, nodeId: env.data.NODE_ID, secret: env.data.NODE_SECRET, docker: dockerUp ? docker : undefined, runtime });
agent.start();
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => (agent.stop(), process.exit(0)));
