import Docker from "dockerode";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentRuntime, type AgentSpec } from "../src/agent-lifecycle";
import { DockerodeClient } from "../src/dockerode-client";
import { EgressPolicy, bridgeOf } from "../src/egress";
import { TraefikRoutes } from "../src/traefik";
import { StateStore } from "../src/state-store";
import { S3Client } from "@aws-sdk/client-s3";

/**
 * The egress policy on a real Docker engine and the host's real firewall. An agent container (made by the
 * node agent's own runtime, so the policy is attached the way it is in production) probes targets the
 * suite itself sets up, never anything else:
 * - a stand-in cloud metadata server: a container given 169.254.169.254 on a veth the suite wires into the
 *   host's routing table (like a real metadata address, reached through the host's routes; a second Docker
 *   network would not do, because Docker's own inter-network isolation would refuse it even without our
 *   policy, and the test could not fail). The same container also holds a "public" address from a
 *   documentation range (198.51.100.10), the positive control for the internet.
 * - a listener on a host port the suite opens (the host's own services), next to an allowed one (the edge
 *   stand-in, as host.docker.internal:<port> is in development).
 * - another tenant's agent container with its gateway listening.
 * Every probe first succeeds with the policy detached (so only the policy stops it), then is refused.
 */
const IMAGE = "openclaw-test/busybox:1";
const docker = new DockerodeClient();
const raw = new Docker({ socketPath: (process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock").replace("unix://", "") });
const tag = Math.random().toString(36).slice(2, 8);
const prefix = `OCT${tag.toUpperCase()}`;
const veth = `ocv${tag}`;
const metaName = `oc-test-meta-${tag}`;
const users = [`usr_egressa${tag}`, `usr_egressb${tag}`];
const canRun =
  process.getuid?.() === 0 &&
  (() => {
    try {
      execFileSync("iptables", ["-w", "5", "-S", "DOCKER-USER"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();

const GATEWAY = (body: string) => [
  "/bin/sh",
  "-c",
  `while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: ${body.length}\\r\\nConnection: close\\r\\n\\r\\n${body}' | nc -l -p 18789 >/dev/null 2>&1; done`,
];
const spec = (userId: string, body: string): AgentSpec => ({
  userId,
  image: IMAGE,
  host: `${userId.replace(/_/g, "-")}.agents.example.com`,
  config: {},
  gatewayToken: "t".repeat(32),
  memoryMb: 128,
  cpus: 0.5,
  pidsLimit: 64,
  cmd: GATEWAY(body),
});

let egress: EgressPolicy;
let runtime: AgentRuntime;
let routesDir = "";
const servers: Server[] = [];
let edgePort = 0;
let secretPort = 0;
let agentA = "";
let bIp = "";
let gatewayA = "";
let bridgeA = "";

function listen(body: string): Promise<number> {
  const s = createServer((_req, res) => res.end(body));
  servers.push(s);
  return new Promise((resolve) => s.listen(0, "0.0.0.0", () => resolve((s.address() as { port: number }).port)));
}

/** Synchronous, idempotent clean-up of everything the suite adds; also run from a process exit hook. */
function cleanupSync() {
  const quiet = (cmd: string, args: string[]) => {
    try {
      execFileSync(cmd, args, { stdio: "ignore" });
    } catch {
      /* already gone */
    }
  };
  for (const parent of ["DOCKER-USER", "INPUT"]) {
    let listing = "";
    try {
      listing = execFileSync("iptables", ["-w", "5", "-S", parent], { encoding: "utf8" });
    } catch {
      continue;
    }
    for (const line of listing.split("\n")) if (line.includes(`-j ${prefix}-`)) quiet("iptables", ["-w", "5", "-D", ...line.slice(3).split(" ")]);
    if (bridgeA) quiet("iptables", ["-w", "5", "-D", parent, "-i", bridgeA, "-o", bridgeA, "-j", "RETURN"]);
  }
  for (const chain of [`${prefix}-EGRESS`, `${prefix}-HOST`]) {
    quiet("iptables", ["-w", "5", "-F", chain]);
    quiet("iptables", ["-w", "5", "-X", chain]);
  }
  quiet("ip", ["link", "del", veth]);
  quiet("ip", ["route", "del", "198.51.100.10/32"]);
}
const onExit = () => cleanupSync();

/** An HTTP GET from inside the agent container (busybox nc; its wget crashes in a static build): the body, or the error. */
async function probe(container: string, url: string): Promise<{ ok: boolean; out: string }> {
  const u = new URL(url);
  const r = await docker.exec(container, ["sh", "-c", `printf 'GET ${u.pathname} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${u.hostname} ${u.port || 80}`], {
    timeoutMs: 15_000,
  });
  const body = r.stdout.includes("\r\n\r\n") ? r.stdout.slice(r.stdout.indexOf("\r\n\r\n") + 4) : "";
  return { ok: r.exitCode === 0 && r.stdout.startsWith("HTTP/1."), out: (body || r.stdout + r.stderr).trim() };
}

describe.skipIf(!canRun)("egress policy of agent containers (real Docker, real iptables)", () => {
  beforeAll(async () => {
    process.once("exit", onExit);
    if (!(await docker.hasImage(IMAGE)))
      await docker.buildImage(
        IMAGE,
        { busybox: readFileSync("/bin/busybox") },
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n',
      );
    edgePort = await listen("edge-ok");
    secretPort = await listen("host-secret");
    egress = new EgressPolicy({ prefix, pools: ["10.213.0.0/16"], hostPorts: [edgePort] });
    await egress.install();
    routesDir = mkdtempSync(join(tmpdir(), "oc-routes-"));
    // S3 is never reached here (no sleep/wake); a client is needed only to build the runtime.
    const store = new StateStore({
      client: new S3Client({ region: "us-east-1", endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: "x", secretAccessKey: "x" } }),
      bucket: "unused",
    });
    runtime = new AgentRuntime(docker, store, {
      stateRoot: mkdtempSync(join(tmpdir(), "oc-egress-")),
      readyTimeoutMs: 30_000,
      egress,
      routes: new TraefikRoutes(routesDir),
    });
    const [a, b] = await Promise.all([runtime.provision(spec(users[0]!, '{"tenant":"a"}')), runtime.provision(spec(users[1]!, '{"tenant":"b"}'))]);
    agentA = a.containerId;
    bIp = (await docker.ipOn(b.containerId, AgentRuntime.networkName(users[1]!)))!;
    const netA = await raw.getNetwork(AgentRuntime.networkName(users[0]!)).inspect();
    gatewayA = netA.IPAM!.Config![0]!.Gateway!;
    bridgeA = bridgeOf(netA.Id);

    // The stand-in metadata server: its own network namespace (no Docker network), wired by a veth.
    const meta = await raw.createContainer({
      name: metaName,
      Image: IMAGE,
      Cmd: [
        "/bin/sh",
        "-c",
        "(while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 11\\r\\nConnection: close\\r\\n\\r\\nmetadata-ok' | nc -l -p 80 >/dev/null 2>&1; done) & while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 9\\r\\nConnection: close\\r\\n\\r\\npublic-ok' | nc -l -p 8080 >/dev/null 2>&1; done",
      ],
      HostConfig: { NetworkMode: "none", CapDrop: ["ALL"] },
      Labels: { "openclaw.test": "egress" },
    });
    await meta.start();
    const pid = String((await meta.inspect()).State.Pid);
    const sh = (args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: "pipe" });
    sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", `${veth}p`]);
    sh(["ip", "link", "set", `${veth}p`, "netns", pid]);
    sh(["ip", "addr", "add", "169.254.169.253/30", "dev", veth]);
    sh(["ip", "link", "set", veth, "up"]);
    sh(["ip", "route", "add", "198.51.100.10/32", "via", "169.254.169.254", "dev", veth]);
    const inNs = (args: string[]) => sh(["nsenter", "-t", pid, "-n", ...args]);
    inNs(["ip", "addr", "add", "169.254.169.254/30", "dev", `${veth}p`]);
    inNs(["ip", "addr", "add", "198.51.100.10/32", "dev", `${veth}p`]);
    inNs(["ip", "link", "set", `${veth}p`, "up"]);
    inNs(["ip", "route", "add", "default", "via", "169.254.169.253"]);
  }, 120_000);

  afterAll(async () => {
    for (const u of users) await runtime?.remove(u, { deleteState: true }).catch(() => {});
    await raw
      .getContainer(metaName)
      .remove({ force: true })
      .catch(() => {});
    await egress?.uninstall().catch(() => {});
    for (const s of servers) s.close();
    cleanupSync();
    process.off("exit", onExit);
  }, 60_000);

  const targets = () => ({
    metadata: "http://169.254.169.254/latest/meta-data/",
    hostPort: `http://${gatewayA}:${secretPort}/`,
    hostByName: `http://host.docker.internal:${secretPort}/`,
    otherTenant: `http://${bIp}:18789/`,
  });

  it("the provisioned container is under the policy, and Traefik's route was written as a file", async () => {
    const userRules = execFileSync("iptables", ["-w", "5", "-S", "DOCKER-USER"], { encoding: "utf8" });
    expect(userRules).toContain(`-A DOCKER-USER -i ${bridgeA} -o ${bridgeA} -j RETURN`);
    expect(userRules).toContain(`-A DOCKER-USER -i ${bridgeA} -j ${prefix}-EGRESS`);
    expect(execFileSync("iptables", ["-w", "5", "-S", "INPUT"], { encoding: "utf8" })).toContain(`-A INPUT -i ${bridgeA} -j ${prefix}-HOST`);
    const route = JSON.parse(readFileSync(join(routesDir, `oc-${users[0]}.yml`), "utf8"));
    expect(Object.values(route.http.services as Record<string, { loadBalancer: { servers: { url: string }[] } }>)[0]!.loadBalancer.servers[0]!.url).toMatch(
      /^http:\/\/10\.213\.\d+\.\d+:18789$/,
    );
    // No container on the node holds the Docker socket.
    for (const c of await raw.listContainers({ all: true, filters: { label: ["openclaw.managed=true"] } }))
      expect((c.Mounts ?? []).map((m) => m.Source)).not.toContain("/var/run/docker.sock");
  });

  it("with the policy detached, every probe target answers (the probes can see a hole)", async () => {
    await egress.detach(bridgeA);
    try {
      const t = targets();
      expect(await probe(agentA, t.metadata)).toEqual({ ok: true, out: "metadata-ok" });
      expect(await probe(agentA, t.hostPort)).toEqual({ ok: true, out: "host-secret" });
      expect(await probe(agentA, t.hostByName)).toEqual({ ok: true, out: "host-secret" });
    } finally {
      await egress.attach(bridgeA);
    }
  }, 60_000);

  it("refuses metadata, the host's ports and another tenant; allows the edge, the internet and Traefik's path", async () => {
    const t = targets();
    for (const [what, url] of Object.entries(t)) {
      const r = await probe(agentA, url);
      expect(r.ok, `${what} should be refused: ${r.out}`).toBe(false);
      expect(r.out).not.toMatch(/metadata-ok|host-secret|tenant/);
    }
    // Positive controls through the same paths: the allowed host port (the edge in development), a public
    // address through the same veth as the metadata server, and another tenant reached from inside its
    // own network (the path Traefik uses) while the policy is attached there too.
    expect(await probe(agentA, `http://host.docker.internal:${edgePort}/`)).toEqual({ ok: true, out: "edge-ok" });
    expect(await probe(agentA, "http://198.51.100.10:8080/")).toEqual({ ok: true, out: "public-ok" });
    const traefikStandIn = await raw.createContainer({
      Image: IMAGE,
      Cmd: ["sleep", "60"],
      HostConfig: { NetworkMode: AgentRuntime.networkName(users[1]!), CapDrop: ["ALL"] },
      Labels: { "openclaw.test": "egress" },
    });
    try {
      await traefikStandIn.start();
      expect(await probe(traefikStandIn.id, `http://${bIp}:18789/`)).toEqual({ ok: true, out: '{"tenant":"b"}' });
    } finally {
      await traefikStandIn.remove({ force: true });
    }
  }, 90_000);

  it("removing the agent removes its rules", async () => {
    const bridgeB = bridgeOf((await raw.getNetwork(AgentRuntime.networkName(users[1]!)).inspect()).Id);
    expect(execFileSync("iptables", ["-w", "5", "-S", "DOCKER-USER"], { encoding: "utf8" })).toContain(`-i ${bridgeB} -j ${prefix}-EGRESS`);
    await runtime.remove(users[1]!, { deleteState: true });
    expect(execFileSync("iptables", ["-w", "5", "-S", "DOCKER-USER"], { encoding: "utf8" })).not.toContain(bridgeB);
    expect(execFileSync("iptables", ["-w", "5", "-S", "INPUT"], { encoding: "utf8" })).not.toContain(bridgeB);
  });
});
