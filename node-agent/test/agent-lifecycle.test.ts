import type { IncomingMessage, RequestListener } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AgentRuntime, type AgentSpec, type ArchiveStore } from "../src/agent-lifecycle";
import { GATEWAY_PORT } from "../src/traefik";
import { FakeDocker, type FakeContainer } from "./fake-docker";

/**
 * The lifecycle and delivery logic on the fake engine (fake-docker.ts): no Docker, milliseconds per test.
 * Each fake container serves a stand-in gateway (/readyz, chat completions) and a channel listener on its own
 * loopback address, so the node agent's real HTTP code runs. lifecycle.test.ts proves the same on real Docker.
 */
const IMAGE = "openclaw-test/fake:1";
const LISTENER = 8787;

const body = (req: IncomingMessage) =>
  new Promise<string>((r) => {
    let s = "";
    req.on("data", (d) => (s += d));
    req.on("end", () => r(s));
  });

/** A stand-in gateway per container; `refuseFirst` updates get a 503, as a listener still starting gives. */
function gateway(opts: { refuseFirst?: number; replyDelayMs?: number } = {}) {
  const received: string[] = [];
  let refusals = opts.refuseFirst ?? 0;
  const serve = (_c: FakeContainer): Record<number, RequestListener> => ({
    [GATEWAY_PORT]: async (req, res) => {
      if (req.url === "/readyz") return void res.writeHead(200, { "content-type": "application/json" }).end('{"ready":true}');
      const { messages } = JSON.parse(await body(req)) as { messages: { content: string }[] };
      if (opts.replyDelayMs) await new Promise((r) => setTimeout(r, opts.replyDelayMs));
      received.push(`message:${messages[0]!.content}`);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ message: { content: `re: ${messages[0]!.content}` } }] }));
    },
    [LISTENER]: async (req, res) => {
      const update = await body(req);
      if (refusals-- > 0) return void res.writeHead(503).end();
      received.push(`update:${update}`);
      res.writeHead(200).end("ok");
    },
  });
  return { serve, received };
}

/** An archive store in memory: what was archived, restored and deleted. */
function memoryStore(latest?: string) {
  const restored: { key: string; dir: string; owner?: unknown }[] = [];
  const store: ArchiveStore = {
    archive: async (userId) => ({ key: `${userId}/1.tar.gz`, bytes: 10 }),
    latest: async () => latest,
    restore: async (key, dir, owner) => void restored.push({ key, dir, owner }),
    deleteAll: async () => 0,
  };
  return { store, restored };
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup) await f();
  cleanup = [];
});

function setup(opts: ConstructorParameters<typeof FakeDocker>[0] = {}, latest?: string) {
  const docker = new FakeDocker({ images: [IMAGE], ...opts });
  const stateRoot = mkdtempSync(join(tmpdir(), "oc-fake-states-"));
  const { store, restored } = memoryStore(latest);
  const runtime = new AgentRuntime(docker, store, { stateRoot, readyTimeoutMs: 2_000, forwardRetryDelaysMs: [10, 10, 10, 10] });
  cleanup.push(
    () => docker.close(),
    () => rmSync(stateRoot, { recursive: true, force: true }),
  );
  return { docker, runtime, restored, stateRoot };
}

const spec = (userId: string, extra: Partial<AgentSpec> = {}): AgentSpec => ({
  userId,
  image: IMAGE,
  host: `${userId}.agents.example.com`,
  config: { gateway: { port: GATEWAY_PORT } },
  gatewayToken: "t".repeat(32),
  memoryMb: 128,
  cpus: 0.5,
  pidsLimit: 64,
  ...extra,
});

describe("agent lifecycle (fake Docker)", () => {
  it("provisions a hardened container on its own network, reporting each step", async () => {
    const gw = gateway();
    const { docker, runtime, stateRoot } = setup({ serve: gw.serve });
    const steps: string[] = [];
    const { containerId } = await runtime.provision(spec("usr_a", { user: "1000:1000" }), (s) => steps.push(s));
    expect(steps).toEqual(["creating", "starting", "ready"]);
    const c = docker.containers.get(containerId)!;
    expect(c.state).toBe("running");
    expect(c.spec).toMatchObject({
      name: "oc-usr_a",
      network: "oc-usr_a",
      readOnlyRootfs: true,
      labels: { "openclaw.user": "usr_a" },
      mounts: [{ source: join(stateRoot, "usr_a") }],
    });
    expect(JSON.parse(readFileSync(join(stateRoot, "usr_a", "openclaw.json"), "utf8"))).toEqual({ gateway: { port: GATEWAY_PORT } });
    // Provisioning again converges on the same container (a command repeated after a reconnect).
    expect((await runtime.provision(spec("usr_a"))).containerId).toBe(containerId);
    expect(docker.calls.filter((x) => x.startsWith("create"))).toHaveLength(1);
  });

  it("reports a start that dies, or is OOM-killed, as failed", async () => {
    let oom = false;
    const { docker, runtime } = setup({ serve: gateway().serve, onStart: async (c) => void (await docker.crash(c.id, { oom })) });
    await expect(runtime.provision(spec("usr_dies"))).rejects.toThrow("the agent container stopped while starting (exited)");
    oom = true;
    await expect(runtime.wake(spec("usr_dies"))).rejects.toThrow("ran out of memory");
  });

  it("wakes a container that is gone by restoring the newest archive, then creating it again", async () => {
    const { docker, runtime, restored, stateRoot } = setup({ serve: gateway().serve }, "usr_lost/7.tar.gz");
    const woke = await runtime.wake(spec("usr_lost", { user: "1000:1000" }));
    expect(woke.restoredFrom).toBe("usr_lost/7.tar.gz");
    expect(restored).toEqual([{ key: "usr_lost/7.tar.gz", dir: join(stateRoot, "usr_lost"), owner: { uid: 1000, gid: 1000 } }]);
    expect((await docker.inspect("oc-usr_lost"))?.state).toBe("running");
    expect(docker.calls.indexOf("create oc-usr_lost")).toBeLessThan(docker.calls.indexOf("start oc-usr_lost"));
  });

  it("wakes with no archive as a fresh agent, and a second wake is a plain start", async () => {
    const { docker, runtime, restored } = setup({ serve: gateway().serve });
    expect((await runtime.wake(spec("usr_new"))).restoredFrom).toBeUndefined();
    expect(restored).toEqual([]);
    await runtime.sleep("usr_new");
    expect((await docker.inspect("oc-usr_new"))?.state).toBe("exited");
    expect((await runtime.wake(spec("usr_new"))).restoredFrom).toBeUndefined();
    expect(docker.calls.filter((x) => x.startsWith("create"))).toHaveLength(1);
  });

  it("hands updates over in arrival order while the listener is still starting, and a failure does not hold the line", async () => {
    const gw = gateway({ refuseFirst: 2 });
    const { runtime } = setup({ serve: gw.serve });
    await runtime.provision(spec("usr_q"));
    // All sent at once: the first is refused twice (retried), the others must wait behind it.
    const sent = [
      runtime.forward("usr_q", LISTENER, "/telegram", {}, "u1"),
      runtime.deliver("usr_q", "s", "m2"),
      runtime.forward("usr_q", LISTENER, "/telegram", {}, "u3"),
      runtime.forward("usr_q", 1, "/nowhere", {}, "lost"), // nothing listens there: fails after its retries
      runtime.forward("usr_q", LISTENER, "/telegram", {}, "u5"),
    ];
    const results = await Promise.allSettled(sent);
    expect(gw.received).toEqual(["update:u1", "message:m2", "update:u3", "update:u5"]);
    expect(results[0]).toMatchObject({ status: "fulfilled", value: { status: 200, attempts: 3 } });
    expect(results[1]).toMatchObject({ status: "fulfilled", value: { reply: "re: m2" } });
    expect(results[3]!.status).toBe("rejected");
  });

  it("never dozes an agent while a message is in flight", async () => {
    const { docker, runtime } = setup({ serve: gateway({ replyDelayMs: 150 }).serve });
    await runtime.provision(spec("usr_busy"));
    const reply = runtime.deliver("usr_busy", "s", "hello");
    await expect(runtime.pause("usr_busy")).rejects.toThrow("handling a message");
    expect(await reply).toEqual({ reply: "re: hello" });
    expect(await runtime.pause("usr_busy")).toEqual({ paused: true });
    expect((await docker.inspect("oc-usr_busy"))?.state).toBe("paused");
    // A message to a dozing agent: the edge wakes it first; the wake thaws rather than restarts.
    const before = docker.calls.length;
    await runtime.wake(spec("usr_busy"));
    expect(docker.calls.slice(before)).toEqual(["unpause oc-usr_busy"]);
    expect(await runtime.deliver("usr_busy", "s", "again")).toEqual({ reply: "re: again" });
  });

  it("refuses a container that carries another user's label, and a user id that is not a plain name", async () => {
    const { docker, runtime } = setup({ serve: gateway().serve });
    await docker.ensureNetwork("oc-usr_victim");
    await docker.createContainer({ name: "oc-usr_victim", image: IMAGE, labels: { "openclaw.user": "usr_other" }, memoryMb: 64, cpus: 0.1, pidsLimit: 16 });
    await expect(runtime.sleep("usr_victim")).rejects.toThrow("does not belong to usr_victim");
    await expect(runtime.remove("../etc")).rejects.toThrow("invalid user id");
    expect(docker.calls.filter((x) => x.startsWith("stop") || x.startsWith("remove"))).toEqual([]);
  });
});
