import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentRuntime, type AgentSpec } from "../src/agent-lifecycle";
import { DockerodeClient } from "../src/dockerode-client";
import { Doze } from "../src/doze";
import { readMetrics } from "../src/metrics";
import { StateStore } from "../src/state-store";
import { localS3 } from "./local-runtime";
import { AGENT_IMAGE } from "@oc/contracts/agent-image";

/**
 * Doze with reclaim on a real Docker engine and the real kernel: a small stand-in process in the agent image
 * (Node, not the OpenClaw gateway) fills 256 MiB of memory with a known pattern, answers /readyz with JSON and
 * /check with whether its memory is still exactly what it wrote. The suite adds its own zram swap device
 * (scripts/lib/zram.sh, hot_add, highest priority) and removes it afterwards; it never touches another swap.
 */
const IMAGE = process.env.OPENCLAW_IMAGE ?? AGENT_IMAGE;
const ZRAM_STATE = join(tmpdir(), `oc-doze-test-${process.pid}.zram`);
const zram = (fn: "zram_up 768" | "zram_down") =>
  execFileSync("bash", ["-c", `source scripts/lib/zram.sh && ${fn}`], {
    env: { ...process.env, ZRAM_STATE, ZRAM_TRAP: "0", ZRAM_PRIORITY: "32000" },
    stdio: ["ignore", "ignore", "inherit"],
  });

const HOG = `
const http = require("http"), crypto = require("crypto");
const bufs = [];
for (let i = 0; i < 256; i++) {
  const b = Buffer.alloc(1 << 20);
  crypto.randomFillSync(b, 0, 1 << 18); // a quarter incompressible, the rest text-like, roughly like a heap
  b.fill("openclaw agent heap page " + i, 1 << 18);
  bufs.push(b);
}
const sum = () => { const h = crypto.createHash("sha256"); for (const b of bufs) h.update(b); return h.digest("hex"); };
const first = sum();
const json = (r, v) => { r.setHeader("content-type", "application/json"); r.end(JSON.stringify(v)); };
http.createServer((q, r) => {
  if (q.url === "/readyz") return json(r, { ready: true });
  if (q.url === "/check") return json(r, { same: sum() === first });
  if (q.url === "/v1/chat/completions") return setTimeout(() => json(r, { choices: [{ message: { content: "pong" } }] }), 1500);
  r.statusCode = 404; r.end();
}).listen(18789, "0.0.0.0");
`;

const docker = new DockerodeClient();
let closeS3: (() => Promise<void>) | undefined;
let store: StateStore;
let stateRoot = "";
const users: string[] = [];
const runtimes: AgentRuntime[] = [];

const runtimeWith = (doze: Doze) => {
  const r = new AgentRuntime(docker, store, { stateRoot, readyTimeoutMs: 30_000, doze });
  runtimes.push(r);
  return r;
};

const spec = (userId: string): AgentSpec => ({
  userId,
  image: IMAGE,
  host: `${userId.replace(/_/g, "-")}.agents.example.com`,
  config: {},
  gatewayToken: "d".repeat(32),
  memoryMb: 512,
  cpus: 1,
  pidsLimit: 64,
  user: "1000:1000",
  cmd: ["node", "-e", HOG],
});

const newUser = () => {
  const u = `usr_${Math.random().toString(36).slice(2, 10)}`;
  users.push(u);
  return u;
};

async function check(userId: string) {
  const ip = await docker.ipOn(AgentRuntime.containerName(userId), AgentRuntime.networkName(userId));
  const res = await fetch(`http://${ip}:18789/check`, { signal: AbortSignal.timeout(20_000) });
  return ((await res.json()) as { same: boolean }).same;
}

async function held(doze: Doze, userId: string) {
  const mem = await docker.memoryInfo(AgentRuntime.containerName(userId));
  return (await doze.held(mem!.pid))!;
}

/** The container's memory limit as the kernel enforces it (v1 or v2), to prove the thaw can grow again. */
async function kernelLimit(doze: Doze, userId: string) {
  const mem = await docker.memoryInfo(AgentRuntime.containerName(userId));
  const cg = (await doze.cgroupOf(mem!.pid))!;
  return Number(readFileSync(join(cg.dir, cg.kind === "v1" ? "memory.limit_in_bytes" : "memory.max"), "utf8"));
}

beforeAll(async () => {
  if (!(await docker.hasImage(IMAGE))) throw new Error(`image ${IMAGE} missing: run node-agent/image/build.sh`);
  zram("zram_up 768");
  ({ store, close: closeS3 } = await localS3());
  stateRoot = mkdtempSync(join(tmpdir(), "oc-doze-states-"));
}, 60_000);

afterAll(async () => {
  for (const u of users) await runtimes[0]?.remove(u, { deleteState: true }).catch(() => {});
  zram("zram_down");
  await closeS3?.();
  if (stateRoot) rmSync(stateRoot, { recursive: true, force: true });
}, 60_000);

describe("doze with reclaim (real Docker, real kernel swap)", () => {
  it("a frozen agent's memory goes to compressed swap; the thaw restores its limit and it works with its memory intact", async () => {
    const doze = new Doze({ targetMb: 64 });
    const runtime = runtimeWith(doze);
    const u = newUser();
    await runtime.provision(spec(u));
    const before = await held(doze, u);
    expect(before.residentMb).toBeGreaterThan(250);

    const { doze: outcome } = await runtime.pause(u);
    expect(outcome?.mode).toBe("reclaimed");
    if (outcome?.mode !== "reclaimed") return;
    expect(outcome.held.residentMb).toBeLessThan(100);
    expect(outcome.held.swappedMb).toBeGreaterThan(150);
    expect(outcome.held.compressedMb).toBeLessThan(outcome.held.swappedMb); // zram compressed it
    expect((await docker.inspect(AgentRuntime.containerName(u)))?.state).toBe("paused");
    expect(await kernelLimit(doze, u)).toBe(512 * 1024 * 1024); // the lowered limit was only momentary

    // The heartbeat reports what the dozing agent really holds.
    const metrics = await readMetrics(docker, "/", doze);
    const reported = metrics.agents?.find((a) => a.userId === u);
    expect(reported?.state).toBe("paused");
    expect(reported!.residentMb).toBeLessThan(100);
    expect(metrics.doze?.reclaims).toBe(1);
    expect(metrics.swap?.kind).toBe("zram");

    await runtime.wake(spec(u));
    expect(await check(u)).toBe(true);
    expect(await kernelLimit(doze, u)).toBe(512 * 1024 * 1024);
  }, 90_000);

  it("a thaw for an answer reads the agent's swapped pages back in bulk before it runs (control: a thaw only to stop it does not)", async () => {
    const doze = new Doze({ targetMb: 64 });
    const runtime = new AgentRuntime(docker, store, { stateRoot, readyTimeoutMs: 30_000, doze, swapInOnThaw: "before" });
    runtimes.push(runtime);
    const u = newUser();
    await runtime.provision(spec(u));
    expect((await runtime.pause(u)).doze?.mode).toBe("reclaimed");
    expect((await held(doze, u)).swappedMb).toBeGreaterThan(150);
    await runtime.wake(spec(u));
    const done = await runtime.lastSwapIn;
    expect(done?.procs).toBeGreaterThanOrEqual(1);
    expect((await held(doze, u)).swappedMb).toBeLessThan(20); // back in RAM before the gateway ran
    expect(await check(u)).toBe(true); // and exactly the agent's own memory

    // Control: an agent thawed only to be stopped (deep sleep) is never swapped in.
    const v = newUser();
    await runtime.provision(spec(v));
    expect((await runtime.pause(v)).doze?.mode).toBe("reclaimed");
    runtime.lastSwapIn = undefined;
    await runtime.sleep(v);
    expect(runtime.lastSwapIn).toBeUndefined();
    await runtime.remove(u, { deleteState: true });
    await runtime.remove(v, { deleteState: true });
  }, 90_000);

  it("never freezes an agent in the middle of a message; once idle it dozes", async () => {
    const doze = new Doze({ targetMb: 64 });
    const runtime = runtimeWith(doze);
    const u = newUser();
    await runtime.provision(spec(u));
    const reply = runtime.deliver(u, "main", "ping");
    await new Promise((r) => setTimeout(r, 200));
    await expect(runtime.pause(u)).rejects.toThrow(/handling a message/);
    expect((await docker.inspect(AgentRuntime.containerName(u)))?.state).toBe("running");
    expect((await reply).reply).toBe("pong");
    expect((await runtime.pause(u)).doze?.mode).toBe("reclaimed"); // positive control: idle, it dozes
    await runtime.remove(u, { deleteState: true });
  }, 90_000);

  it("without swap the doze is a plain freeze, said so in the metrics, and the agent wakes as before", async () => {
    const noSwap = join(stateRoot, "swaps"); // removed with the state root
    writeFileSync(noSwap, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    const doze = new Doze({ targetMb: 64, swapsPath: noSwap });
    const runtime = runtimeWith(doze);
    const u = newUser();
    await runtime.provision(spec(u));
    const { doze: outcome } = await runtime.pause(u);
    expect(outcome).toMatchObject({ mode: "frozen", reason: "no swap on this node" });
    expect((await held(doze, u)).residentMb).toBeGreaterThan(250); // nothing was pushed out
    const metrics = await readMetrics(docker, "/", doze);
    expect(metrics.swap?.kind).toBe("none");
    expect(metrics.doze?.fallbacks).toEqual({ "no swap on this node": 1 });
    await runtime.wake(spec(u));
    expect(await check(u)).toBe(true);
    await runtime.remove(u, { deleteState: true });
  }, 90_000);

  it("asks the gateway to collect its garbage before the freeze, through the container's init (control: a process without the image's preload gives nothing back)", async () => {
    const doze = new Doze({ targetMb: 64 });
    const runtime = runtimeWith(doze);
    // ~80 MiB of objects dropped at once; with the memory reducer off (as the gateway runs) nothing collects
    // them while the process is idle.
    const garbage = `let k=[];for(let i=0;i<1e6;i++)k.push({i,s:"x"+i});k=null;require("http").createServer((q,r)=>{r.setHeader("content-type","application/json");r.end("{}")}).listen(18789,"0.0.0.0")`;
    const preloaded = newUser();
    const plain = newUser();
    await runtime.provision({
      ...spec(preloaded),
      cmd: ["node", "--no-memory-reducer", "--expose-gc", "--require", "/usr/local/lib/oc-doze-gc.cjs", "-e", garbage],
    });
    await runtime.provision({ ...spec(plain), cmd: ["node", "--no-memory-reducer", "-e", garbage] });
    await runtime.pause(preloaded);
    const freed = runtime.lastDozeGcMb;
    await runtime.pause(plain);
    const control = runtime.lastDozeGcMb;
    expect(freed, `given back before the freeze: ${freed} MiB with the preload, ${control} MiB without`).toBeGreaterThanOrEqual(40);
    expect(control, `given back before the freeze: ${freed} MiB with the preload, ${control} MiB without`).toBeLessThan(10);
    for (const u of [preloaded, plain]) await runtime.remove(u, { deleteState: true });
  }, 120_000);

  it("a thaw after the swap is gone: the agent comes back whole", async () => {
    const doze = new Doze({ targetMb: 64 });
    const runtime = runtimeWith(doze);
    const u = newUser();
    await runtime.provision(spec(u));
    expect((await runtime.pause(u)).doze?.mode).toBe("reclaimed");
    expect((await held(doze, u)).swappedMb).toBeGreaterThan(150);
    zram("zram_down"); // the node's swap goes away while the agent dozes (its pages are read back first)
    expect(existsSync(ZRAM_STATE)).toBe(false);
    await runtime.wake(spec(u));
    expect(await check(u)).toBe(true);
    expect((await held(doze, u)).swappedMb).toBe(0);
    await runtime.remove(u, { deleteState: true });
  }, 120_000);
});
