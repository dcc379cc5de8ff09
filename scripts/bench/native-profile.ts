// Where a process's CPU goes below JavaScript: `perf record` of the whole process (every thread: V8, the
// runtime's event loop and bindings, SQLite, the HTTP client, the kernel on its behalf) while a load runs,
// summed into a few kinds of work. The V8 profiler sees only the JavaScript thread's stacks and samples wall
// time; this counts CPU, so it shows how much of a call's cost our own code could remove at all.
import { execFileSync, spawn } from "node:child_process";
import { rmSync } from "node:fs";

/** Kinds of work, matched in order against perf's "dso symbol" text. */
const KINDS: [string, RegExp][] = [
  ["kernel (syscalls, network, scheduling)", /\[kernel/],
  ["JavaScript (JIT code)", /\[JIT\]/],
  ["JavaScript (V8 builtins, interpreter)", /Builtins_/],
  ["V8 runtime and GC", /v8::|cppgc::/],
  ["SQLite (Durable Object storage)", /sqlite|wal[A-Z]|pcache|Btree|Vdbe/],
  ["HTTP client (fetch)", /hyper|tokio|mio::|kj_hyper/],
  ["memory allocator", /tcmalloc|TCMalloc/],
  ["runtime bindings (jsg, API objects)", /jsg::|workerd::api::/],
  ["runtime event loop, RPC (kj, capnp, workerd)", /kj::|capnp::|workerd::/],
];

/** Each kind's share of the process's CPU samples, largest first. */
export type NativeProfile = { kind: string; share: number }[];

export function perfAvailable(): boolean {
  try {
    execFileSync("perf", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Records `pid` with perf while `load` runs; undefined when perf cannot record here (no perf, no permission). */
export async function profileNative(pid: number, out: string, load: () => Promise<unknown>): Promise<NativeProfile | undefined> {
  const perf = spawn("perf", ["record", "-q", "-F", "1999", "-p", String(pid), "-o", out], { stdio: "ignore" });
  const exited = new Promise<number | null>((resolve) => perf.on("exit", resolve).on("error", () => resolve(-1)));
  await new Promise((r) => setTimeout(r, 300)); // perf attaches before the load starts
  try {
    await load();
  } finally {
    perf.kill("SIGINT");
  }
  if ((await exited) === -1) return undefined;
  try {
    const report = execFileSync("perf", ["report", "-i", out, "--no-children", "--sort", "dso,sym", "--stdio", "-q", "-g", "none"], {
      maxBuffer: 64 * 1024 * 1024,
    }).toString();
    return summarise(report);
  } catch {
    return undefined;
  } finally {
    rmSync(out, { force: true });
    rmSync(`${out}.old`, { force: true });
  }
}

function summarise(report: string): NativeProfile {
  const totals = new Map<string, number>();
  for (const line of report.split("\n")) {
    const m = line.match(/^\s*([\d.]+)%\s+(.*)$/);
    if (!m) continue;
    const kind = KINDS.find(([, re]) => re.test(m[2]!))?.[0] ?? "other (libc, unresolved)";
    totals.set(kind, (totals.get(kind) ?? 0) + Number(m[1]) / 100);
  }
  return [...totals].map(([kind, share]) => ({ kind, share })).sort((a, b) => b.share - a.share);
}
