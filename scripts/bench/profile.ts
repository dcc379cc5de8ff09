// CPU profile of the Worker while the proxy benchmark loads it (BENCH_PROFILE=1 npm run bench:proxy): the
// V8 inspector wrangler dev exposes, Profiler.start/stop around a load phase, then the functions with the
// most self time. The raw profile is written next to the bench logs for Chrome DevTools.
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
  const ws = new WebSocket(target.webSocketDebuggerUrl);
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
  await send("Profiler.setSamplingInterval", { interval: 100 });
  await send("Profiler.start");
  await load();
  const { profile } = await send<{ profile: Profile }>("Profiler.stop");
  ws.close();
  writeFileSync(out, JSON.stringify(profile));
  return summarise(profile);
}

/** Self time per function (ms), highest first, with the share of all sampled time. */
function summarise(p: Profile, top = 25) {
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
