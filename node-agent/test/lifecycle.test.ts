import Docker from "dockerode";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentRuntime, type AgentSpec } from "../src/agent-lifecycle";
import { DockerodeClient } from "../src/dockerode-client";
import type { StateStore } from "../src/state-store";
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
let store: StateStore;
const users: string[] = [];

const GATEWAY = [
  "/bin/sh",
  "-c",
  "echo boot >> /home/node/.openclaw/boots.log; while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 14\\r\\nConnection: close\\r\\n\\r\\n{\"ready\":true}' | nc -l -p 18789 >/dev/null 2>&1; done",
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
    await docker.buildImage(
      IMAGE,
      { busybox: readFileSync("/bin/busybox") },
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n',
    );
  ({ runtime, store, stateRoot: root, close } = await localRuntime(20_000));
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
    const { containerId } = await runtime.provision({ ...spec(u), files: { "workspace/SOUL.md": "# SOUL\n\nBe kind.\n" } }, (s) => steps.push(s));
    expect(steps).toEqual(["creating", "starting", "ready"]);
    const info = await raw.getContainer(containerId).inspect();
    expect(info.HostConfig.Privileged).toBe(false);
    expect(info.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(info.HostConfig.SecurityOpt).toContain("no-new-privileges");
    expect(info.HostConfig.Memory).toBe(128 * 1024 * 1024);
    expect(info.HostConfig.PidsLimit).toBe(64);
    expect(info.HostConfig.NetworkMode).toBe(`oc-${u}`);
    expect(info.Config.Labels["openclaw.user"]).toBe(u);
    // Routing is Traefik's file provider now (no Docker socket): no Traefik labels on the container.
    expect(Object.keys(info.Config.Labels).filter((k) => k.startsWith("traefik."))).toEqual([]);
    // Read-only image, default seccomp, writable only where OpenClaw needs it.
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(Object.keys(info.HostConfig.Tmpfs ?? {}).sort()).toEqual(["/home/node", "/tmp"]);
    expect((info.HostConfig.SecurityOpt ?? []).join(" ")).not.toMatch(/seccomp[=:]unconfined/);
    const probe = await docker.exec(containerId, ["sh", "-c", "touch /bin/x 2>&1; echo rc=$?; touch /tmp/x && echo tmp-ok; grep Seccomp: /proc/self/status"]);
    expect(probe.stdout).toMatch(/Read-only file system[\s\S]*rc=1/);
    expect(probe.stdout).toContain("tmp-ok");
    expect(probe.stdout).toMatch(/Seccomp:\s+2/);
    expect(info.Config.Env).toContain(`OPENCLAW_GATEWAY_TOKEN=${"t".repeat(32)}`);
    expect(JSON.parse(readFileSync(join(root, u, "openclaw.json"), "utf8")).gateway.bind).toBe("lan");
    expect(readFileSync(join(root, u, "workspace", "SOUL.md"), "utf8")).toBe("# SOUL\n\nBe kind.\n"); // persona files seeded

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
    expect(
      readFileSync(join(root, u, "boots.log"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(2);
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
    expect(
      readFileSync(join(root, u, "boots.log"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(2); // history survived
    expect(existsSync(join(root, u, "cache"))).toBe(false); // cache was not archived
  }, 60_000);

  it("erasing a deleted account's agent removes its container, its local state and every archive, so nothing can restore it", async () => {
    const u = newUser();
    await runtime.provision(spec(u));
    await runtime.sleep(u);
    await runtime.wake(spec(u));
    await runtime.sleep(u); // two archives now
    const plain = newUser(); // positive control: a plain remove (node lost) keeps the archives
    await runtime.provision(spec(plain));
    await runtime.sleep(plain);
    await runtime.remove(plain, { deleteState: true });
    expect(await store.latest(plain)).toMatch(new RegExp(`^state/${plain}/`));

    expect(await store.latest(u)).toMatch(new RegExp(`^state/${u}/`));
    await runtime.remove(u, { deleteState: true, deleteArchives: true });
    expect(existsSync(join(root, u))).toBe(false);
    expect(await raw.listContainers({ all: true, filters: { name: [AgentRuntime.containerName(u)] } })).toEqual([]);
    expect(await store.latest(u)).toBeUndefined();
    await expect(runtime.wake(spec(u))).resolves.toMatchObject({ restoredFrom: undefined }); // a fresh, empty agent at most
    expect(
      readFileSync(join(root, u, "boots.log"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(1);
  }, 90_000);

  it("pauses in place and wakes from the pause in milliseconds, with the same process", async () => {
    const u = newUser();
    await runtime.provision(spec(u));
    await runtime.pause(u);
    expect((await raw.getContainer(AgentRuntime.containerName(u)).inspect()).State.Paused).toBe(true);
    await expect(runtime.deliver(u, "main", "hi")).rejects.toThrow(/not running/);
    const woke = await runtime.wake(spec(u));
    expect(woke.restoredFrom).toBeUndefined();
    expect(
      readFileSync(join(root, u, "boots.log"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(1); // not restarted
    // A deep sleep from the paused state stops it cleanly and archives.
    await runtime.pause(u);
    expect((await runtime.sleep(u)).key).toMatch(new RegExp(`^state/${u}/`));
    expect((await raw.getContainer(AgentRuntime.containerName(u)).inspect()).State.Status).toBe("exited");
  }, 60_000);

  it("when S3 refuses the archive the agent is started again and the sleep fails: never asleep without its archive", async () => {
    const u = newUser();
    await runtime.provision(spec(u));
    const { S3Client } = await import("@aws-sdk/client-s3");
    const { StateStore } = await import("../src/state-store");
    // Nothing listens on port 9 (discard): every upload fails.
    const deadStore = new StateStore({
      bucket: "openclaw-state",
      client: new S3Client({
        endpoint: "http://127.0.0.1:9",
        region: "us-east-1",
        forcePathStyle: true,
        maxAttempts: 1,
        credentials: { accessKeyId: "x", secretAccessKey: "y" },
      }),
    });
    const failing = new AgentRuntime(docker, deadStore, { stateRoot: root, archiveAttempts: 2, archiveRetryDelayMs: 10 });
    await expect(failing.sleep(u)).rejects.toThrow(/could not store the agent's state .*stays awake/);
    expect((await raw.getContainer(AgentRuntime.containerName(u)).inspect()).State.Status).toBe("running");
    expect(existsSync(join(root, u, "boots.log"))).toBe(true); // local state untouched
  }, 60_000);

  it("refuses to act on a container labelled for another user, and names a missing image", async () => {
    const owner = newUser();
    const intruder = newUser();
    // A container named for `intruder` that carries `owner`'s label (drift, or a forged name).
    await docker.ensureNetwork(AgentRuntime.networkName(intruder));
    await docker.createContainer({
      name: AgentRuntime.containerName(intruder),
      image: IMAGE,
      cmd: ["sleep", "60"],
      labels: { "openclaw.managed": "true", "openclaw.user": owner },
      memoryMb: 64,
      cpus: 0.1,
      pidsLimit: 16,
    });
    for (const op of [
      () => runtime.sleep(intruder),
      () => runtime.pause(intruder),
      () => runtime.remove(intruder),
      () => runtime.deliver(intruder, "main", "x"),
      () => runtime.wake(spec(intruder)),
    ])
      await expect(op()).rejects.toThrow(/does not belong to/);
    await raw.getContainer(AgentRuntime.containerName(intruder)).remove({ force: true });

    await expect(runtime.provision({ ...spec(newUser()), image: "openclaw-agent:does-not-exist" })).rejects.toThrow(
      /image openclaw-agent:does-not-exist is not on this node/,
    );
  }, 60_000);

  it("an agent killed for exceeding its memory limit fails with a reason the user can act on", async () => {
    const u = newUser();
    const hungry = { ...spec(u), memoryMb: 16, cmd: ["/bin/sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); sleep 60"] };
    await expect(runtime.provision(hungry)).rejects.toThrow(/ran out of memory/);
  }, 60_000);
});

describe("channel updates to the container", () => {
  it("a listener that is briefly not listening gets the update on a retry, and the updates keep their order", async () => {
    const u = newUser();
    // A listener that only starts listening 600 ms after the agent is ready.
    const late = [
      "/bin/sh",
      "-c",
      `(while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 14\\r\\nConnection: close\\r\\n\\r\\n{"ready":true}' | nc -l -p 18789 >/dev/null 2>&1; done) &
sleep 0.6; while true; do printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n' | nc -l -p 8787 >> /home/node/.openclaw/in.log 2>&1; done`,
    ];
    await runtime.provision({ ...spec(u), cmd: late });
    const results = await Promise.all(
      [1, 2, 3, 4].map((n) => runtime.forward(u, 8787, "/telegram-webhook", { "x-telegram-bot-api-secret-token": "s" }, JSON.stringify({ update_id: n }))),
    );
    expect(results[0]!.attempts).toBeGreaterThan(1); // the first one had to wait for the listener
    const ids = [...readFileSync(join(root, u, "in.log"), "utf8").matchAll(/"update_id":(\d+)/g)].map((m) => Number(m[1]));
    expect(ids).toEqual([1, 2, 3, 4]);
  }, 60_000);
});
