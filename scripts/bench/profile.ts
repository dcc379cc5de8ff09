// CPU profiles through a V8 inspector: Profiler.start/stop around a load phase, then the functions with the
// most self time and the longest waits of the profiled thread. Used for the Worker under the proxy benchmark
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
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  let id = 0;
  const send = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve) => {
      const mine = ++id;
      const on = (d: Buffer) => {
        const m = JSON.parse(String(d));
        if (m.id === mine) (ws.off("message", on), resolve(m.result));
      };
      ws.on("message", on);
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: intervalUs });
  await send("Profiler.start");
  await load();
  const { profile } = await send<{ profile: Profile }>("Profiler.stop");
  ws.close();
  writeFileSync(out, JSON.stringify(profile));
  return profile;
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
