import { z } from "zod";
import { AgentRuntime } from "./agent-lifecycle";
import { DockerodeClient } from "./dockerode-client";
import { Doze } from "./doze";
import { NodeAgent } from "./edge-link";
import { StateStore, s3FromEnv } from "./state-store";
import { TraefikRoutes, staticConfig } from "./traefik";
import { egressFromEnv } from "./egress";
import { EdgeTransport } from "./archive-transport";

/**
 * The node agent's entry point (bundled to one file by `npm run build:node-agent`, which server-setup.sh
 * installs on each VPS).
 *   node-agent.mjs                                  run the daemon (env below)
 *   node-agent.mjs traefik-config <acme-email>      print Traefik's static config (JSON is valid YAML)
 *   node-agent.mjs egress-install                   (re)build the egress firewall chains (EGRESS_* env)
 */
const env = z.object({
  EDGE_URL: z.url(),
  NODE_ID: z.string().min(1),
  NODE_SECRET: z.string().min(16),
  DOCKER_HOST: z.string().optional(),
  /** Where agents' state dirs live on this node. */
  AGENT_STATE_ROOT: z.string().default("/var/lib/openclaw/agents"),
  /** The Traefik container to connect to every agent network. */
  TRAEFIK_CONTAINER: z.string().optional(),
  /** Traefik's file-provider directory on the host (mounted into Traefik at /etc/traefik/dynamic). */
  TRAEFIK_DYNAMIC_DIR: z.string().optional(),
  S3_BUCKET: z.string().default("openclaw-state"),
});

const [command, ...args] = process.argv.slice(2);
if (command === "traefik-config") {
  if (!args[0]?.includes("@")) {
    console.error("usage: node-agent traefik-config <acme-email>");
    process.exit(2);
  }
  console.log(JSON.stringify(staticConfig({ acmeEmail: args[0] }), null, 2));
} else if (command === "egress-install") {
  const egress = egressFromEnv({ ...process.env, EGRESS_POLICY: "on" })!;
  await egress.install();
  console.log(`[node-agent] egress chains ${egress.egressChain} and ${egress.hostChain} installed`);
} else if (command === "--version") {
  console.log(process.env.npm_package_version ?? "0.1.0");
} else {
  await runDaemon();
}

/**
 * Worker nodes hold no storage keys: archives move through presigned URLs from the edge. Direct S3 keys
 * (S3_ACCESS_KEY_ID) are for development on one machine only.
 */
function store(cfg: { EDGE_URL: string; NODE_ID: string; NODE_SECRET: string }) {
  if (process.env.S3_ACCESS_KEY_ID) return new StateStore(s3FromEnv());
  return new StateStore({ transport: new EdgeTransport({ edgeUrl: cfg.EDGE_URL, nodeId: cfg.NODE_ID, secret: cfg.NODE_SECRET }) });
}

async function runDaemon() {
  // The daemon's env is checked at start so a misconfigured VPS says exactly what is missing.
  const parsed = env.safeParse(process.env);
  if (!parsed.success) {
    console.error(`[node-agent] invalid environment:\n  ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  ")}`);
    process.exit(1);
  }
  const cfg = parsed.data;
  const docker = new DockerodeClient(cfg.DOCKER_HOST);
  const dockerUp = await docker.ping();
  console.log(`[node-agent] node ${cfg.NODE_ID} → ${cfg.EDGE_URL} (docker ${dockerUp ? "reachable" : "NOT reachable"})`);
  const egress = egressFromEnv();
  const runtime = dockerUp
    ? new AgentRuntime(docker, store(cfg), {
        stateRoot: cfg.AGENT_STATE_ROOT,
        traefikContainer: cfg.TRAEFIK_CONTAINER,
        doze: new Doze(),
        routes: cfg.TRAEFIK_DYNAMIC_DIR ? new TraefikRoutes(cfg.TRAEFIK_DYNAMIC_DIR) : undefined,
        egress,
      })
    : undefined;
  // The firewall is in place before the first command can start a container; without it, no agent runs.
  if (runtime && egress) console.log(`[node-agent] egress policy installed (${await runtime.applyEgress()} agent networks)`);
  const agent = new NodeAgent({ edgeUrl: cfg.EDGE_URL, nodeId: cfg.NODE_ID, secret: cfg.NODE_SECRET, docker: dockerUp ? docker : undefined, runtime });
  agent.start();
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => (agent.stop(), process.exit(0)));
}
