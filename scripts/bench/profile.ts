// CPU profiles through a V8 inspector: Profiler.start/stop around a load phase (of one thread, or of a Node
// process's main thread and its worker threads), then the functions with the most self time and the longest
// waits of the profiled thread. Used for the Worker under the proxy benchmark
// (BENCH_PROFILE=1 npm run bench:proxy) and for an agent's gateway (npm run bench:wake-profile). The raw
// profile is written for Chrome DevTools.
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const { WebSocket } = createRequire(import.meta.url)("ws") as typeof import("ws");

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export async function profileWorker(inspectorPort: number, out: string, load: () => Promise<unknown>) {
  const targets = (await fetch(`http://127.0.0.1:${inspectorPort}/json`).then((r) => r.json())) as { webSocketDebuggerUrl: string; title?: string }[];
  const target = targets.find((t) => !/ProxyWorker|InspectorProxyWorker/.test(t.title ?? "")) ?? targets[0];
  if (!target) throw new Error("no inspector target");
  return summarise(await profileTarget(target.webSocketDebuggerUrl, out, load, 100));
}

/** One profile of the inspector target at `wsUrl` (sampling every `intervalUs`) while `load` runs. */
export async function profileTarget(wsUrl: string, out: string, load: () => Promise<unknown>, intervalUs = 200): Promise<Profile> {
  const cdp = await connect(wsUrl);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: intervalUs });
  await cdp.send("Profiler.start");
  await load();
  const { profile } = await cdp.send<{ profile: Profile }>("Profiler.stop");
  cdp.close();
  writeFileSync(out, JSON.stringify(profile));
  return profile;
}

type Cdp = {
  send: <T>(method: string, params?: object, session?: string) => Promise<T>;
  on: (fn: (m: { method?: string; params?: any }) => void) => void;
  close: () => void;
};

/** A CDP connection; `session` routes a call to a worker thread through the NodeWorker domain. */
async function connect(wsUrl: string): Promise<Cdp> {
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  let id = 0;
  const waiting = new Map<string, (result: unknown) => void>();
  const listeners: ((m: { method?: string; params?: any }) => void)[] = [];
  const dispatch = (m: { id?: number; result?: unknown; method?: string; params?: any }, session = "") => {
    if (m.id !== undefined) waiting.get(`${session}:${m.id}`)?.(m.result);
    else if (m.method === "NodeWorker.receivedMessageFromWorker") dispatch(JSON.parse(m.params.message), m.params.sessionId);
    else for (const l of listeners) l({ ...m, params: { ...m.params, session } });
  };
  ws.on("message", (d: Buffer) => dispatch(JSON.parse(String(d))));
  return {
    send: <T>(method: string, params: object = {}, session?: string) =>
      new Promise<T>((resolve) => {
        const mine = ++id;
        waiting.set(`${session ?? ""}:${mine}`, resolve as (r: unknown) => void);
        const msg = JSON.stringify({ id: mine, method, params });
        ws.send(session ? JSON.stringify({ id: ++id, method: "NodeWorker.sendMessageToWorker", params: { sessionId: session, message: msg } }) : msg);
      }),
    on: (fn) => listeners.push(fn),
    close: () => ws.close(),
  };
}

export interface ThreadProfile {
  thread: string;
  /** When the thread was attached, ms after `load` began (0: it existed before). */
  attachedAtMs: number;
  profile?: Profile;
}

/**
 * Profiles of a Node process's main thread and of every worker thread it has or starts while `load` runs.
 * A worker started during `load` is held at its first line until its profiler runs, so its start-up (module
 * loading, its own set-up) is in its profile; a worker that exits before the end has none.
 */
export async function profileThreads(wsUrl: string, outPrefix: string, load: () => Promise<unknown>, intervalUs = 200): Promise<ThreadProfile[]> {
  const cdp = await connect(wsUrl);
  const threads = new Map<string, ThreadProfile & { started: Promise<unknown> }>();
  let t0: number | undefined;
  const start = async (session?: string) => {
    await cdp.send("Profiler.enable", {}, session);
    await cdp.send("Profiler.setSamplingInterval", { interval: intervalUs }, session);
    await cdp.send("Profiler.start", {}, session);
  };
  cdp.on((m) => {
    if (m.method === "NodeWorker.attachedToWorker") {
      const { sessionId, workerInfo, waitingForDebugger } = m.params;
      const thread = `${workerInfo.title || "worker"} ${String(workerInfo.url).split("/").pop()}`;
      const started = start(sessionId).then(() => waitingForDebugger && cdp.send("Runtime.runIfWaitingForDebugger", {}, sessionId));
      threads.set(sessionId, { thread, attachedAtMs: t0 === undefined ? 0 : performance.now() - t0, started });
    }
    if (m.method === "NodeWorker.detachedFromWorker") {
      const t = threads.get(m.params.sessionId);
      if (t) t.thread += " (exited)";
    }
  });
  await cdp.send("NodeWorker.enable", { waitForDebuggerOnStart: true });
  await start();
  t0 = performance.now();
  await load();
  const out: ThreadProfile[] = [{ thread: "main", attachedAtMs: 0, profile: (await cdp.send<{ profile: Profile }>("Profiler.stop")).profile }];
  for (const [session, t] of threads) {
    await t.started;
    const stopped = t.thread.endsWith("(exited)")
      ? undefined
      : await Promise.race([cdp.send<{ profile: Profile }>("Profiler.stop", {}, session), new Promise<undefined>((r) => setTimeout(r, 2000))]);
    out.push({ thread: t.thread, attachedAtMs: t.attachedAtMs, profile: stopped?.profile });
  }
  await cdp.send("NodeWorker.disable").catch(() => {});
  cdp.close();
  out.forEach((t, i) => t.profile && writeFileSync(`${outPrefix}.${i}.cpuprofile`, JSON.stringify(t.profile)));
  return out;
}

/** Self time per function (ms), highest first, with the share of all sampled time. */
export function summarise(p: Profile, top = 25) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  p.samples.forEach((s, i) => {
    const n = byId.get(s)!;
    const file = n.callFrame.url.split("/").slice(-2).join("/");
    const key = `${n.callFrame.functionName || "(anonymous)"}  ${file}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = self.get("(idle)  :0") ?? 0;
  return {
    totalMs: total,
    busyMs: total - idle,
    top: [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, ms]) => ({ fn, ms, share: ms / total })),
  };
}

const frame = (n: Node) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber + 1}`;
const NOT_JS = new Set(["(idle)", "(program)", "(garbage collector)"]);

/**
 * The thread's longest waits: runs of idle samples, each with the JavaScript stack that ran last before it
 * (what was awaited was started there) and first after it (what resumed). A thread that waits on a worker,
 * a child process or the disk shows it here, not in its self time.
 */
export function longestWaits(p: Profile, top = 3) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of (n as Node & { children?: number[] }).children ?? []) parent.set(c, n.id);
  const stack = (id: number) => {
    const out: string[] = [];
    for (let c: number | undefined = id; c !== undefined && out.length < 6; c = parent.get(c))
      if (byId.get(c)!.callFrame.functionName !== "(root)") out.push(frame(byId.get(c)!));
    return out.join(" < ");
  };
  let t = 0;
  const at = p.samples.map((s, i) => ({ s, t: (t += (p.timeDeltas[i] ?? 0) / 1000), fn: byId.get(s)!.callFrame.functionName }));
  const js = (i: number, step: number) => {
    while (i >= 0 && i < at.length && NOT_JS.has(at[i]!.fn)) i += step;
    return i >= 0 && i < at.length ? stack(at[i]!.s) : "-";
  };
  const waits: { ms: number; atMs: number; before: string; after: string }[] = [];
  for (let i = 0; i < at.length; i++) {
    if (at[i]!.fn !== "(idle)") continue;
    let j = i;
    while (j + 1 < at.length && at[j + 1]!.fn === "(idle)") j++;
    waits.push({ ms: at[Math.min(j + 1, at.length - 1)]!.t - at[i]!.t, atMs: at[i]!.t, before: js(i - 1, -1), after: js(j + 1, 1) });
    i = j;
  }
  return waits.sort((a, b) => b.ms - a.ms).slice(0, top);
}

/** The first and last non-idle sample of a thread, in ms after `originUs` (another profile's start time). */
export function busySpan(p: Profile, originUs: number) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  let t = p.startTime;
  let first = NaN;
  let last = NaN;
  p.samples.forEach((s, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (byId.get(s)!.callFrame.functionName === "(idle)") return;
    if (Number.isNaN(first)) first = t;
    last = t;
  });
  return { first: (first - originUs) / 1000, last: (last - originUs) / 1000 };
}
