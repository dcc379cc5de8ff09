// The built Worker in bare workerd for the proxy benchmark: `wrangler deploy --dry-run` bundles it exactly as
// a deployment would, and Miniflare's API runs that bundle with the Durable Objects, rate limiter and vars
// wrangler.toml declares (read by wrangler's own config loader), listening directly on a loopback port.
// Unlike `wrangler dev` there is no local proxy chain in front, and the port is a direct socket into the
// Worker, so Miniflare's entry worker is not in front either. Static assets are left out: the benchmark
// only calls /v1 and /api, which run the Worker first.
import { execFileSync } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

/**
 * The least any proxy on this runtime can cost: a Worker that only forwards the request to the upstream and
 * hands its answer back (no key, no body read, no Durable Object). Ours is measured against it.
 */
const PASS_THROUGH = `export default {
  fetch(request, env) {
    const u = new URL(request.url);
    return fetch(env.UPSTREAM + u.pathname + u.search, request);
  },
};`;

/**
 * Where the Durable Objects' SQLite files live: RAM (/dev/shm) unless BENCH_DO_DIR says otherwise. Local
 * workerd makes each commit durable with an fsync, in the same process as the Worker (on this machine's disk
 * 6% of workerd's CPU under load in a perf profile); production storage is made durable by replication, not
 * by an fsync beside the Worker. BENCH_DO_DIR=/tmp measures the disk.
 */
export const DO_STORAGE = process.env.BENCH_DO_DIR ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());

export async function startBareWorker(o: {
  port: number;
  /** A direct socket into the pass-through Worker, forwarding to `upstream`. */
  passThrough: { port: number; upstream: string };
  inspectorPort?: number;
  vars: Record<string, string>;
  logDir: string;
}) {
  const out = mkdtempSync(join(tmpdir(), "oc-bench-bundle-"));
  execFileSync("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--outdir", out], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  const { workerOptions } = unstable_getMiniflareWorkerOptions("wrangler.toml");
  const doDir = mkdtempSync(join(DO_STORAGE, "oc-bench-do-"));
  const w = workerOptions as Record<string, any>;
  // What the Worker binds (wrangler.toml): the same Durable Objects (SQLite), rate limiter and vars.
  const options = {
    compatibilityDate: w.compatibilityDate,
    compatibilityFlags: w.compatibilityFlags,
    durableObjects: w.durableObjects,
    ratelimits: w.ratelimits,
  };
  // wrangler's loader speaks Miniflare 4's option shape; Miniflare converts it.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      // Miniflare's own entry worker (which adds the `cf` object and routes by host) listens elsewhere; the
      // benchmark's port is a socket straight into our Worker, as a production request arrives.
      port: 0,
      inspectorPort: o.inspectorPort,
      durableObjectsPersist: doDir,
      // A placeholder Request.cf instead of the one Miniflare would download: the benchmark never calls the
      // internet, and the Worker reads nothing from it.
      cf: false,
      log: new Log(LogLevel.WARN),
      // The Worker's own console output (e.g. the dev mail outbox) goes to a log file, not the table.
      handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
        const log = createWriteStream(join(o.logDir, "bare-workerd.log"));
        stdout.pipe(log);
        stderr.pipe(log);
      },
      workers: [
        {
          ...(options as object),
          name: "openclaw-hosting",
          modules: true,
          modulesRoot: out,
          scriptPath: join(out, "worker.js"),
          bindings: { ...(w.bindings ?? {}), ...o.vars },
          unsafeDirectSockets: [{ host: "127.0.0.1", port: o.port }],
        },
        {
          name: "pass-through",
          compatibilityDate: w.compatibilityDate,
          modules: [{ type: "ESModule", path: "pass-through.mjs", contents: PASS_THROUGH }],
          bindings: { UPSTREAM: o.passThrough.upstream },
          unsafeDirectSockets: [{ host: "127.0.0.1", port: o.passThrough.port }],
        },
      ],
    } as Parameters<typeof convertV4MiniflareOptions>[0]),
  );
  await mf.ready;
  return {
    dispose: async () => {
      await mf.dispose();
      rmSync(doDir, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    },
    cpuMs: childCpuMs,
  };
}

/**
 * CPU time (user + system, all threads) used so far by the workerd processes this process started: what a
 * call costs the runtime, counted by the kernel, so a loaded machine does not inflate it the way wall-clock
 * sampling does.
 */
export function childCpuMs(): number {
  return childWorkerd().reduce((ms, pid) => ms + processCpuMs(pid), 0);
}

/** The workerd processes this process started. */
export function childWorkerd(): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (Number(rest[1]) === process.pid && comm.startsWith("workerd")) pids.push(Number(pid));
    } catch {
      /* exited */
    }
  }
  return pids;
}

/** CPU time (user + system) used so far by process `pid` and the threads it runs, in ms. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) * 10; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}
