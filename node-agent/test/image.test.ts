import { execFileSync } from "node:child_process";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentRuntime, type AgentSpec } from "../src/agent-lifecycle";
import { DockerodeClient } from "../src/dockerode-client";
import { localRuntime } from "./local-runtime";
import { DOZE_GC_SIGNAL } from "../src/doze";
import { AGENT_IMAGE } from "@oc/contracts/agent-image";

/**
 * What node-agent/image/build.sh does to the agent image, checked in the built image without booting the
 * gateway: oc-start's seeding of the channel plugins (run up to, not including, its final `exec` of the
 * gateway; a small server then answers /readyz), and the idle timers it patches in OpenClaw's code.
 */
const IMAGE = process.env.OPENCLAW_IMAGE ?? AGENT_IMAGE;
const SEED = "/opt/openclaw-seed/npm/projects";
const PLUGINS = /^openclaw-(discord|slack|whatsapp)-[0-9a-f]+$/;
const READY = `require("http").createServer((q, r) => { r.setHeader("content-type", "application/json"); r.end("{}"); }).listen(18789, "0.0.0.0")`;
const IDLE_TIMERS = "(IDLE_EXECUTION_MS|SQLITE_IDLE_HANDLE_TTL_MS|WORKER_PLACEMENT_RECONCILE_INTERVAL_MS) ?= ?[0-9e]+";
/** OpenClaw's host-thaw detector: the gateway's gap threshold and the worker bundles' copy of it. */
const THAW_DETECTOR = "(gapMs >= |HOST_THAW_MIN_FROZEN_MS ?= ?)[0-9A-Za-z]+";
/** The environment oc-start gives the gateway (its `export` lines), as a shell expansion inside the container. */
const GATEWAY_ENV = `$(sed -n 's|^export ||p' /usr/local/bin/oc-start)`;
/** The Node flags oc-start's last line starts the gateway with, as a shell expansion inside the container. */
const GATEWAY_FLAGS = `$(sed -n 's|^exec node \\(.*\\) /opt/openclaw/.*|\\1|p' /usr/local/bin/oc-start)`;

const docker = new DockerodeClient();
let runtime: AgentRuntime;
let close: (() => Promise<void>) | undefined;
const users: string[] = [];

const spec = (userId: string, config: Record<string, unknown>, before = "true"): AgentSpec => ({
  userId,
  image: IMAGE,
  host: `${userId.replace(/_/g, "-")}.agents.example.com`,
  config,
  gatewayToken: "i".repeat(32),
  memoryMb: 256,
  cpus: 1,
  pidsLimit: 64,
  user: "1000:1000",
  // oc-start without its last line (exec of the gateway), then the stand-in server.
  cmd: ["sh", "-c", `${before} && sed '$d' /usr/local/bin/oc-start > /tmp/oc-seed && sh /tmp/oc-seed && exec node -e '${READY}'`],
});

const projects = (userId: string) => join(runtime.stateDir(userId), "npm", "projects");
const newUser = () => {
  const u = `usr_${Math.random().toString(36).slice(2, 10)}img`;
  users.push(u);
  return u;
};

beforeAll(async () => {
  if (!(await docker.hasImage(IMAGE))) throw new Error(`image ${IMAGE} missing: run node-agent/image/build.sh`);
  ({ runtime, close } = await localRuntime(60_000));
}, 60_000);

afterAll(async () => {
  for (const u of users) await runtime.remove(u, { deleteState: true }).catch(() => {});
  await close?.();
}, 60_000);

describe("the agent image (build.sh)", () => {
  it("seeds the channel plugins an agent's config enables as copies and the others as links to the image's copy; a plugin enabled later replaces its link", async () => {
    const u = newUser();
    await runtime.provision(spec(u, { plugins: { entries: { slack: { enabled: false } } } }));
    const names = readdirSync(projects(u)).filter((n) => PLUGINS.test(n));
    expect(names).toHaveLength(3);
    // Read from the host without following anything: lstat and readlink only.
    for (const n of names) {
      expect(lstatSync(join(projects(u), n)).isSymbolicLink(), n).toBe(true);
      expect(readlinkSync(join(projects(u), n))).toBe(`${SEED}/${n}`);
    }

    // Slack connected (enabled): the restart copies its plugin in place of the link (positive control of the
    // branch above: the same check now sees a real folder holding the package).
    const slack = names.find((n) => n.startsWith("openclaw-slack-"))!;
    await runtime.configure(spec(u, { plugins: { entries: { slack: { enabled: true } } }, channels: { slack: {} } }));
    const copied = lstatSync(join(projects(u), slack));
    expect(copied.isSymbolicLink()).toBe(false);
    expect(copied.isDirectory()).toBe(true);
    expect(JSON.parse(readFileSync(join(projects(u), slack, "node_modules", "@openclaw", "slack", "package.json"), "utf8")).name).toBe("@openclaw/slack");
    for (const n of names.filter((n) => n !== slack)) expect(lstatSync(join(projects(u), n)).isSymbolicLink(), n).toBe(true);
  }, 90_000);

  it("keeps the agent database's worker and idle SQLite handles open, sweeps worker placements (which retire the history reader) daily, and never runs the host-thaw recovery (control: the unpatched package has the 60 s / 30 min timers and the 75 s detector)", async () => {
    const u = newUser();
    const found = (text: string, pattern: string) => [...new Set(text.match(new RegExp(pattern, "g"))!.map((m) => m.replace(/ /g, "")))].sort();
    const dist = "/opt/openclaw/node_modules/openclaw/dist";
    await runtime.provision(
      spec(
        u,
        {},
        `grep -rhoaE '${IDLE_TIMERS}' ${dist} > "$OPENCLAW_STATE_DIR/timers.txt" && grep -rhoaE '${THAW_DETECTOR}' ${dist} > "$OPENCLAW_STATE_DIR/thaw.txt"`,
      ),
    );
    expect(found(readFileSync(join(runtime.stateDir(u), "timers.txt"), "utf8"), IDLE_TIMERS)).toEqual([
      "IDLE_EXECUTION_MS=864e5",
      "SQLITE_IDLE_HANDLE_TTL_MS=864e5",
      "WORKER_PLACEMENT_RECONCILE_INTERVAL_MS=864e5",
    ]);
    expect(found(readFileSync(join(runtime.stateDir(u), "thaw.txt"), "utf8"), THAW_DETECTOR)).toEqual(["HOST_THAW_MIN_FROZEN_MS=Infinity", "gapMs>=Infinity"]);
    // Control: the same patterns find the originals in the package the image was built from.
    const unpatched = (pattern: string) =>
      execFileSync("grep", ["-rhoaE", pattern, join(import.meta.dirname, "../image/node_modules/openclaw/dist")]).toString();
    expect(found(unpatched(IDLE_TIMERS), IDLE_TIMERS)).toEqual([
      "IDLE_EXECUTION_MS=6e4",
      "SQLITE_IDLE_HANDLE_TTL_MS=18e5",
      "WORKER_PLACEMENT_RECONCILE_INTERVAL_MS=6e4",
    ]);
    expect(found(unpatched(THAW_DETECTOR), THAW_DETECTOR)).toEqual(["HOST_THAW_MIN_FROZEN_MS=45e3", "gapMs>=75e3"]);
  }, 60_000);

  it("starts the gateway's Node without V8's memory reducer, so a thaw does not begin with a whole-heap collection (control: the image's Node without oc-start's flags runs it)", async () => {
    const u = newUser();
    // Old-generation collections, then a quiet moment: V8's trace names every memory reducer step (its start
    // delay is shortened here from 8 s). The flags come from oc-start's own exec line.
    const probe = `let k=[];for(let r=0;r<6;r++){for(let i=0;i<4e5;i++)k.push({i,s:"x"+i});k=[]}setTimeout(()=>{},1500)`;
    const run = (out: string, with_: string) =>
      `echo "${with_}" > "$OPENCLAW_STATE_DIR/${out}.flags" && node ${with_} --max-old-space-size=96 --gc-memory-reducer-start-delay-ms=100 --trace-memory-reducer -e '${probe}' | grep -c 'Memory reducer' > "$OPENCLAW_STATE_DIR/${out}.txt"; true`;
    await runtime.provision(spec(u, {}, `${run("gateway", GATEWAY_FLAGS)} && ${run("plain", "")}`));
    const read = (f: string) => readFileSync(join(runtime.stateDir(u), f), "utf8").trim();
    expect(read("gateway.flags")).toContain("--no-memory-reducer");
    expect(Number(read("gateway.txt"))).toBe(0);
    expect(Number(read("plain.txt"))).toBeGreaterThan(0);
  }, 60_000);

  it("starts the gateway with two malloc arenas, so its threads' freed native memory is not kept in one arena each (control: the image's Node without oc-start's environment makes one per thread)", async () => {
    const u = newUser();
    // Eight worker threads allocate native memory (zlib); the probe then counts glibc's thread arenas in its own
    // address map: each is an anonymous 64 MiB-aligned reservation of 64 MiB, its used part readable.
    const probe =
      'const {Worker}=require("worker_threads"),fs=require("fs");const src="const z=require(\\"zlib\\");const b=Buffer.alloc(1<<16,7);for(let i=0;i<300;i++)z.deflateSync(b);require(\\"worker_threads\\").parentPort.postMessage(0)";let left=8;for(let i=0;i<8;i++)new Worker(src,{eval:true}).once("message",()=>{if(--left)return;const rows=fs.readFileSync("/proc/self/maps","utf8").trim().split("\\n").map((l)=>{const [r,p,,,ino,...n]=l.split(/\\s+/);const [a,b]=r.split("-").map((x)=>BigInt("0x"+x));return {a,b,p,anon:ino==="0"&&n.join("")===""}});let arenas=0;for(let i=0;i+1<rows.length;i++){const x=rows[i],y=rows[i+1];if(x.anon&&y.anon&&x.p==="rw-p"&&y.p==="---p"&&x.b===y.a&&x.a%(64n<<20n)===0n&&y.b-x.a===64n<<20n)arenas++}console.log(arenas);process.exit(0)});';
    const run = (out: string, env: string) => `env ${env} node -e '${probe}' > "$OPENCLAW_STATE_DIR/${out}.txt"`;
    await runtime.provision(spec(u, {}, `${run("gateway", GATEWAY_ENV)} && ${run("plain", "")}`));
    const read = (f: string) => Number(readFileSync(join(runtime.stateDir(u), f), "utf8").trim());
    const [gateway, plain] = [read("gateway.txt"), read("plain.txt")];
    expect(gateway, `thread arenas: ${gateway} with oc-start's environment, ${plain} without`).toBeLessThanOrEqual(1);
    expect(plain, `thread arenas: ${gateway} with oc-start's environment, ${plain} without`).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it("bounds each isolate's young generation, so a dozing agent does not keep pages of dead young objects (control: the image's Node without oc-start's flags grows it)", async () => {
    const u = newUser();
    // Bursts of allocation whose objects survive a few rounds make V8 grow the new space; the probe prints
    // the largest size it reached, in MiB.
    const probe = `const v8=require("v8");let keep=[],max=0;for(let r=0;r<40;r++){const a=[];for(let i=0;i<2e5;i++)a.push({i,s:"y"+i});keep.push(a);if(keep.length>3)keep.shift();max=Math.max(max,v8.getHeapSpaceStatistics().find((s)=>s.space_name==="new_space").space_size)}console.log(Math.round(max/1048576))`;
    const run = (out: string, with_: string) => `node ${with_} -e '${probe}' > "$OPENCLAW_STATE_DIR/${out}.txt"`;
    // In an agent's own container size: V8 sizes the young generation from the memory it may use.
    await runtime.provision({ ...spec(u, {}, `${run("gateway", GATEWAY_FLAGS)} && ${run("plain", "")}`), memoryMb: 2048 });
    const read = (f: string) => Number(readFileSync(join(runtime.stateDir(u), f), "utf8").trim());
    const [gateway, plain] = [read("gateway.txt"), read("plain.txt")];
    expect(gateway, `new space: ${gateway} MiB with the flags, ${plain} MiB without`).toBeLessThanOrEqual(24);
    expect(plain, `new space: ${gateway} MiB with the flags, ${plain} MiB without`).toBeGreaterThanOrEqual(2 * gateway);
  }, 60_000);
  it("collects the garbage of the gateway's main thread and of every worker thread when the node agent is about to doze it (control: the image's Node without oc-start's flags keeps it)", async () => {
    const u = newUser();
    // The main thread and a worker each make ~30 MiB of objects and print their heap (MiB) while the objects
    // still live, so V8 cannot have collected them yet; both then drop them, the probe sends itself the doze
    // signal at once, with nothing allocated in between, and prints each heap again 1.5 s later.
    const probe =
      'const {Worker}=require("worker_threads"),v8=require("v8");const heap=()=>Math.round(v8.getHeapStatistics().total_heap_size/1048576);const w=new Worker(`const v8=require("v8"),{parentPort}=require("worker_threads");let k=[];for(let i=0;i<3e5;i++)k.push({i,s:"x"+i});const heap=()=>Math.round(v8.getHeapStatistics().total_heap_size/1048576);parentPort.on("message",(m)=>{if(m==="drop")k=null;parentPort.postMessage(heap())});parentPort.postMessage(heap())`,{eval:true});let k=[];for(let i=0;i<3e5;i++)k.push({i,s:"x"+i});w.once("message",(wb)=>{const mb=heap();w.once("message",()=>{k=null;process.kill(process.pid,"' +
      DOZE_GC_SIGNAL +
      '");setTimeout(()=>{w.once("message",(wa)=>{console.log(JSON.stringify({main:[mb,heap()],worker:[wb,wa]}));process.exit(0)});w.postMessage(0)},1500)});w.postMessage("drop")});';
    const run = (out: string, with_: string) => `node ${with_} -e '${probe}' > "$OPENCLAW_STATE_DIR/${out}.json"`;
    // An agent's own container size, as the gateway has it.
    await runtime.provision({ ...spec(u, {}, `${run("gateway", GATEWAY_FLAGS)} && ${run("plain", "")}`), memoryMb: 2048 });
    const read = (f: string) => JSON.parse(readFileSync(join(runtime.stateDir(u), f), "utf8")) as { main: [number, number]; worker: [number, number] };
    const [gateway, plain] = [read("gateway.json"), read("plain.json")];
    const shown = `heap before → after ${DOZE_GC_SIGNAL}, MiB: with the flags ${JSON.stringify(gateway)}, without ${JSON.stringify(plain)}`;
    for (const [before, after] of [gateway.main, gateway.worker]) {
      expect(before, shown).toBeGreaterThanOrEqual(20);
      expect(after, shown).toBeLessThanOrEqual(before / 2);
    }
    for (const [before, after] of [plain.main, plain.worker]) {
      expect(before, shown).toBeGreaterThanOrEqual(20);
      expect(after, shown).toBeGreaterThan(before - 5);
    }
  }, 60_000);
});
