import { statfs } from "node:fs/promises";
import os from "node:os";
import type { NodeMetrics } from "@oc/contracts/wire";
import type { DockerClient } from "./docker-client";
import type { Doze } from "./doze";

let lastCpu = os.cpus().map((c) => c.times);

/** CPU use since the previous call, over all cores. */
function cpuPercent(): number {
  const now = os.cpus().map((c) => c.times);
  let busy = 0;
  let total = 0;
  now.forEach((t, i) => {
    const p = lastCpu[i] ?? t;
    const idle = t.idle - p.idle;
    const all = t.user - p.user + (t.nice - p.nice) + (t.sys - p.sys) + (t.irq - p.irq) + idle;
    busy += all - idle;
    total += all;
  });
  lastCpu = now;
  return total > 0 ? Math.min(100, Math.round((busy / total) * 1000) / 10) : 0;
}

export async function readMetrics(docker: DockerClient | undefined, dataPath = "/", doze?: Doze): Promise<NodeMetrics> {
  const fs = await statfs(dataPath);
  const mb = (n: number) => Math.round(n / 1024 / 1024);
  const list = docker ? await docker.list("openclaw.managed=true").catch(() => []) : [];
  const metrics: NodeMetrics = {
    ramTotalMb: mb(os.totalmem()),
    ramUsedMb: mb(os.totalmem() - os.freemem()),
    cpuPercent: cpuPercent(),
    diskTotalMb: mb(fs.blocks * fs.bsize),
    diskUsedMb: mb((fs.blocks - fs.bfree) * fs.bsize),
    containerCount: list.length,
  };
  if (!doze || !docker) return metrics;
  const swap = await doze.swap();
  metrics.swap = { kind: swap.kind, totalMb: swap.totalMb, freeMb: swap.freeMb };
  metrics.doze = doze.stats();
  metrics.agents = [];
  for (const c of list) {
    const userId = c.labels["openclaw.user"];
    if (!userId || (c.state !== "running" && c.state !== "paused")) continue;
    const mem = await docker.memoryInfo(c.id).catch(() => undefined);
    const held = mem && (await doze.held(mem.pid, swap).catch(() => undefined));
    if (held) metrics.agents.push({ userId, state: c.state, ...held });
  }
  return metrics;
}
