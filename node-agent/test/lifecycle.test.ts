import Docker from "dockerode";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentRuntime, type AgentSpec } from "../src/agents";
import { DockerodeClient } from "../src/docker";
import { localRuntime } from "./local-runtime";

/**
 * The agent lifecycle on a real Docker engine with a local S3-compatible store (s3rver). The container runs a
 * stand-in gateway from the locally built busybox image: it records each boot in the state dir and answers
 * /readyz with JSON on the gateway port, like OpenClaw. (The real OpenClaw gateway end to end is tracked in
 * the node-agent issue.)
 */
const IMAGE = "openclaw-test/busybox:1";
const docker = new DockerodeClient();
const raw = new Docker({ socketPath: (process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock").replace("unix://", "") });
let root = "";
let close: () => Promise<void>;
let runtime: AgentRuntime;
const users: string[] = [];

const GATEWAY = [
  "/bin/sh",
  "-c",
  'echo boot >> /home/node/.openclaw/boots.log; while true; do printf \'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 14\\r\\nConnection: close\\r\\n\\r\\n{"ready":true}\' | nc -l -p 18789 >/dev/null 2>&1; done',
];

const spec = (userId: string): AgentSpec => ({
  userId,
  image: IMAGE,
  host: `${userId.replace(/_/g, "-")}.agents.example.com`,
  config: { gateway: { mode: "local", port: 18789, bind: "lan" } },
  gatewayToken: "t".repeat(32),
  memoryMb: 128,
  cpus: 0.5,
  pidsLimit: 64,
  cmd: GATEWAY,
});

beforeAll(async () => {
  if (!(await docker.hasImage(IMAGE)))
    await docker.buildImage(IMAGE, { busybox: readFileSync("/bin/busybox") }, 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n');
  ({ runtime, stateRoot: root, close } = await localRuntime(20_000));
}, 120_000);

afterAll(async () => {
  for (const u of users) await runtime.remove(u, { deleteState: true }).catch(() => {});
  await close?.();
});

const newUser = () => {
  const u = `usr_${Math.random().toString(36).slice(2, 10)}`;
  users.push(u);
  return u;
};

describe("agent lifecycle on a real Docker engine", () => {
  it("provisions a hardened, isolated container with its config, labels and limits", async () => {
    const u = newUser();
    const steps: string[] = [];
    const { containerId } = await runtime.provision(spec(u), (s) => steps.push(s));
    expect(steps).toEqual(["creating", "starting", "ready"]);
    const info = await raw.getContainer(containerId).inspect();
    expect(info.HostConfig.Privileged).toBe(false);
    expect(info.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(info.HostConfig.SecurityOpt).toContain("no-new-privileges");
    expect(info.HostConfig.Memory).toBe(128 * 1024 * 1024);
    expect(info.HostConfig.PidsLimit).toBe(64);
    expect(info.HostConfig.NetworkMode).toBe(`oc-${u}`);
    expect(info.Config.Labels["openclaw.user"]).toBe(u);
    expect(Object.values(info.Config.Labels)).toContain(`Host(\`${u.replace(/_/g, "-")}.agents.example.com\`)`);
    expect(info.Config.Env).toContain(`OPENCLAW_GATEWAY_TOKEN=${"t".repeat(32)}`);
    expect(JSON.parse(readFileSync(join(root, u, "openclaw.json"), "utf8")).gateway.bind).toBe("lan");

    // Provisioning again (a repeated command) converges on the same container.
    expect((await runtime.provision(spec(u))).containerId).toBe(containerId);
  }, 60_000);

  it("one user's container cannot reach another's", async () => {
    const a = newUser();
    const b = newUser();
    await runtime.provision(spec(a));
    const { containerId: bId } = await runtime.provision(spec(b));
    const bIp = await docker.ipOn(bId, AgentRuntime.networkName(b));
    /** Asks the gateway at ip:18789 for /readyz from inside A's container; returns what came back. */
    const fromA = async (ip: string) => {
      const exec = await raw.getContainer(AgentRuntime.containerName(a)).exec({
        Cmd: ["sh", "-c", `printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${ip} 18789`],
        AttachStdout: true,
        AttachStderr: true,
      });
      const stream = await exec.start({});
      let out = "";
      const sink = new (await import("node:stream")).PassThrough().on("data", (d) => (out += d));
      raw.modem.demuxStream(stream, sink, sink);
      for (let i = 0; i < 100 && (await exec.inspect()).Running; i++) await new Promise((r) => setTimeout(r, 100));
      stream.destroy();
      return out;
    };
    const aIp = await docker.ipOn(AgentRuntime.containerName(a), AgentRuntime.networkName(a));
    expect(await fromA(aIp!)).toContain('{"ready":true}'); // control: A reaches a gateway on its own network
    expect(await fromA(bIp!)).not.toContain("ready"); // B, on another network, is out of reach
  }, 60_000);

  it("sleeps to S3 (without cache/tmp) and wakes on the same node with a plain start", async () => {
    const u = newUser();
    await runtime.provision(spec(u));
    await mkdir(join(root, u, "cache"), { recursive: true });
    await writeFile(join(root, u, "cache", "big.bin"), "regenerable");
    const archived = await runtime.sleep(u);
    expect(archived.key).toMatch(new RegExp(`^state/${u}/`));
    expect((await raw.getContainer(AgentRuntime.containerName(u)).inspect()).State.Status).toBe("exited");
    const woke = await runtime.wake(spec(u));
    expect(woke.restoredFrom).toBeUndefined();
    expect(readFileSync(join(root, u, "boots.log"), "utf8").trim().split("\n")).toHaveLength(2);
  }, 60_000);

  it("after the node lost the agent, wake restores its state from the newest archive", async () => {
    const u = newUser();
    await runtime.provision(spec(u));
    await mkdir(join(root, u, "cache"), { recursive: true });
    await writeFile(join(root, u, "cache", "big.bin"), "regenerable");
    await writeFile(join(root, u, "memory.md"), "the user likes green tea");
    const { key } = await runtime.sleep(u);
    await runtime.remove(u, { deleteState: true }); // the node is gone: no container, no network, no local state
    expect(existsSync(join(root, u))).toBe(false);
    expect(await raw.listNetworks({ filters: { name: [AgentRuntime.networkName(u)] } })).toEqual([]);

    const woke = await runtime.wake(spec(u));
    expect(woke.restoredFrom).toBe(key);
    expect(readFileSync(join(root, u, "memory.md"), "utf8")).toBe("the user likes green tea");
    expect(readFileSync(join(root, u, "boots.log"), "utf8").trim().split("\n")).toHaveLength(2); // history survived
    expect(existsSync(join(root, u, "cache"))).toBe(false); // cache was not archived
  }, 60_000);
});
