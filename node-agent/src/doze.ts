import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { swapIn, type SwapInResult } from "./swap-in";

/**
 * Dozing that gives memory back. A frozen agent (cgroup freezer) uses no CPU but keeps its ~1 GiB; this module
 * pushes the frozen container's pages into the node's compressed swap (zram, or zswap in front of a swap file),
 * so the agent holds ~64 MiB resident plus its compressed pages, and reads back what it really holds from the
 * cgroup's own accounting. Thawing gets the pages back (on demand, or in bulk through `swapIn`), far cheaper
 * than a cold boot of OpenClaw.
 *
 * cgroup v2 has `memory.reclaim` (reclaim N bytes now, nothing else changes). cgroup v1 has no such file: the
 * memory limit is lowered for a moment (the write reclaims synchronously, or fails with EBUSY without killing
 * anything) and put back at once, so the thaw can grow again. Docker sets the swap limit equal to the memory
 * limit ("no swap"), so the swap allowance is opened for the reclaim and closed again afterwards: a running
 * agent never swaps, only a frozen one is pushed out.
 */

export interface MemoryHeld {
  /** Pages in RAM charged to the container (anonymous + page cache). */
  residentMb: number;
  /** Pages of the container that sit in swap (original size). */
  swappedMb: number;
  /** RAM those swapped pages take in the compressed pool (0 when they are on disk). */
  compressedMb: number;
}

export interface SwapState {
  totalMb: number;
  freeMb: number;
  /** zram: a compressed RAM block device; zswap: a compressed cache in front of a swap file; disk: plain swap. */
  kind: "zram" | "zswap" | "disk" | "none";
  /** RAM used per byte stored in the compressed pool (zram's mem_used_total / orig_data_size, zswap's Zswap / Zswapped). */
  ratio: number;
}

export type ReclaimOutcome =
  | { mode: "reclaimed"; before: MemoryHeld; held: MemoryHeld; ms: number }
  /** Frozen only (today's doze): no usable swap, not enough of it, or the kernel refused. */
  | { mode: "frozen"; reason: string; held?: MemoryHeld };

interface Cgroup {
  kind: "v1" | "v2";
  dir: string;
}

export interface DozeOptions {
  cgroupRoot?: string;
  procRoot?: string;
  sysRoot?: string;
  /** The kernel's swap table (default <procRoot>/swaps). */
  swapsPath?: string;
  /** What a dozing agent keeps resident (OpenClaw's working set for the first answer after a thaw). */
  targetMb?: number;
  /** Swap that must stay free after a reclaim, for the rest of the node. */
  swapReserveMb?: number;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => Math.round(bytes / MB);

/**
 * What a dozing agent keeps resident by default. Measured with the real image (N=2 and N=4, zram): 64 MiB
 * holds ~450 MiB per agent against ~535 at 120 MiB, and the first answer after a doze was no slower (5.1–5.7 s
 * p50 vs 5.5 s); what the answer waits for is OpenClaw's own preparation, not these pages.
 */
export const DOZE_RESIDENT_MB = 64;

/**
 * The signal that asks an agent's gateway to collect its garbage before a doze. The image's preload
 * (node-agent/image/build.sh, oc-doze-gc.cjs) runs V8's last-resort collection on the main thread and every
 * worker thread when it arrives: with the memory reducer off, each isolate otherwise keeps its emptied pages,
 * which the reclaim would then compress and keep. SIGURG because its default action is to do nothing: an image
 * without the preload ignores it, and OpenClaw uses SIGUSR1/SIGUSR2 itself.
 */
export const DOZE_GC_SIGNAL = "SIGURG";

export class Doze {
  private readonly cgroupRoot: string;
  private readonly procRoot: string;
  private readonly sysRoot: string;
  private readonly swapsPath: string;
  readonly targetMb: number;
  private readonly swapReserveMb: number;
  /** Why the last reclaims fell back to a plain freeze, by reason (node metrics). */
  readonly fallbacks = new Map<string, number>();
  reclaims = 0;

  constructor(opts: DozeOptions = {}) {
    this.cgroupRoot = opts.cgroupRoot ?? "/sys/fs/cgroup";
    this.procRoot = opts.procRoot ?? "/proc";
    this.sysRoot = opts.sysRoot ?? "/sys";
    this.swapsPath = opts.swapsPath ?? join(this.procRoot, "swaps");
    this.targetMb = opts.targetMb ?? DOZE_RESIDENT_MB;
    this.swapReserveMb = opts.swapReserveMb ?? 64;
  }

  /** The memory cgroup of a process (the container's init): v1's memory hierarchy, or the unified one. */
  async cgroupOf(pid: number): Promise<Cgroup | undefined> {
    const lines = (await readFile(join(this.procRoot, String(pid), "cgroup"), "utf8").catch(() => "")).split("\n");
    for (const line of lines) {
      const [, controllers, path] = line.split(":");
      if (controllers?.split(",").includes("memory") && path !== undefined) return { kind: "v1", dir: join(this.cgroupRoot, "memory", path) };
    }
    const unified = lines.find((l) => l.startsWith("0::"));
    if (unified && (await exists(join(this.cgroupRoot, "cgroup.controllers")))) return { kind: "v2", dir: join(this.cgroupRoot, unified.slice(3)) };
    return undefined;
  }

  /** The node's swap: how much, how much free, and whether it is compressed in RAM. */
  async swap(): Promise<SwapState> {
    const rows = (await readFile(this.swapsPath, "utf8").catch(() => ""))
      .split("\n")
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 4);
    let total = 0;
    let used = 0;
    let poolOrig = 0;
    let poolUsed = 0;
    let zram = false;
    for (const [file, , size, inUse] of rows) {
      total += Number(size) * 1024;
      used += Number(inUse) * 1024;
      const dev = /^\/dev\/(zram\d+)$/.exec(file!)?.[1];
      if (!dev) continue;
      zram = true;
      // mm_stat: orig_data_size compr_data_size mem_used_total ...
      const stat = (await readFile(join(this.sysRoot, "block", dev, "mm_stat"), "utf8").catch(() => "")).trim().split(/\s+/).map(Number);
      poolOrig += stat[0] ?? 0;
      poolUsed += stat[2] ?? 0;
    }
    const zswap = (await readFile(join(this.sysRoot, "module/zswap/parameters/enabled"), "utf8").catch(() => "N")).trim() === "Y";
    const kind = total === 0 ? "none" : zram ? "zram" : zswap ? "zswap" : "disk";
    if (zswap && total > 0) {
      // zswap's pool: Zswap is the RAM it takes, Zswapped the original size of the pages in it. Pages it wrote
      // back to the disk take no RAM, so counting every swapped page at the pools' ratio never under-reports.
      // In front of zram too (a kernel that enables zswap by default) it takes the pages before zram does.
      const meminfo = await readFile(join(this.procRoot, "meminfo"), "utf8").catch(() => "");
      const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(meminfo)?.[1] ?? 0);
      poolUsed += kb("Zswap") * 1024;
      poolOrig += kb("Zswapped") * 1024;
    }
    // Until something is stored the ratio is unknown: count swapped pages at full size (never under-report).
    const ratio = poolOrig > 0 ? Math.min(1, poolUsed / poolOrig) : 1;
    return { totalMb: mb(total), freeMb: mb(total - used), kind, ratio };
  }

  /**
   * Sends DOZE_GC_SIGNAL (`signal`), then waits until the container's memory stops falling (at least `minMs`, at
   * most `maxMs`), so the freeze comes after the collections have given their pages back. Returns the MiB given
   * back, counted from a reading taken before the signal: a collection can finish before the first read after
   * it. Memory counts RAM and swap: after an earlier doze most freed pages are swapped ones, and RAM alone would
   * not fall while the collections still run.
   */
  async settle(pid: number, signal: () => Promise<void>, { minMs = 1000, maxMs = 5000, stepMs = 250 } = {}): Promise<number | undefined> {
    const cg = await this.cgroupOf(pid);
    if (!cg) {
      await signal();
      return undefined;
    }
    const read = async () => {
      const h = await this.heldIn(cg, { totalMb: 0, freeMb: 0, kind: "disk", ratio: 1 });
      return (h.residentMb + h.swappedMb) * MB;
    };
    const first = await read();
    await signal();
    const started = Date.now();
    let last = first;
    while (Date.now() - started < maxMs) {
      await new Promise((r) => setTimeout(r, stepMs));
      const now = await read();
      const falling = last - now > 2 * MB;
      last = now;
      if (!falling && Date.now() - started >= minMs) break;
    }
    return mb(Math.max(0, first - last));
  }

  /** What the container holds now, from its cgroup's own accounting. */
  async held(pid: number, swap?: SwapState): Promise<MemoryHeld | undefined> {
    const cg = await this.cgroupOf(pid);
    if (!cg) return undefined;
    return this.heldIn(cg, swap ?? (await this.swap()));
  }

  private async heldIn(cg: Cgroup, swap: SwapState): Promise<MemoryHeld> {
    const stat = await readStat(join(cg.dir, "memory.stat"));
    let resident: number;
    let swapped: number;
    let compressed: number | undefined;
    if (cg.kind === "v1") {
      resident = await readNumber(join(cg.dir, "memory.usage_in_bytes"));
      swapped = stat.get("swap") ?? Math.max(0, (await readNumber(join(cg.dir, "memory.memsw.usage_in_bytes")).catch(() => resident)) - resident);
    } else {
      resident = await readNumber(join(cg.dir, "memory.current"));
      swapped = await readNumber(join(cg.dir, "memory.swap.current")).catch(() => 0);
      // zswap accounts its compressed pool per cgroup on v2 (and charges it to memory.current).
      if (stat.has("zswap")) compressed = 0;
    }
    if (compressed === undefined) compressed = swap.kind === "zram" || swap.kind === "zswap" ? swapped * swap.ratio : 0;
    return { residentMb: mb(resident), swappedMb: mb(swapped), compressedMb: mb(compressed) };
  }

  private fallback(reason: string, held?: MemoryHeld): ReclaimOutcome {
    this.fallbacks.set(reason, (this.fallbacks.get(reason) ?? 0) + 1);
    return { mode: "frozen", reason, held };
  }

  /**
   * Pushes a frozen container's memory into compressed swap, down to `targetMb` resident. Refuses (the agent
   * stays frozen with its memory, as before) when the node has no compressed swap or too little of it free: a
   * reclaim into a full swap would fail half way or push the node into OOM. Never call it on a running agent.
   */
  async reclaim(pid: number): Promise<ReclaimOutcome> {
    const cg = await this.cgroupOf(pid);
    if (!cg) return this.fallback("the container's memory cgroup was not found");
    const swap = await this.swap();
    const before = await this.heldIn(cg, swap);
    if (swap.kind === "none") return this.fallback("no swap on this node", before);
    if (swap.kind === "disk") return this.fallback("swap is not compressed (zram or zswap)", before);
    const toMove = before.residentMb - this.targetMb;
    if (toMove <= 0) return { mode: "reclaimed", before, held: before, ms: 0 };
    if (swap.freeMb - this.swapReserveMb < toMove) return this.fallback("not enough free swap", before);
    const started = Date.now();
    try {
      if (cg.kind === "v1") await this.reclaimV1(cg.dir);
      else await this.reclaimV2(cg.dir, toMove * MB);
    } catch (e) {
      return this.fallback(`the kernel refused the reclaim (${(e as Error).message})`, await this.heldIn(cg, await this.swap()).catch(() => before));
    }
    const held = await this.heldIn(cg, await this.swap());
    this.reclaims++;
    return { mode: "reclaimed", before, held, ms: Date.now() - started };
  }

  private async reclaimV1(dir: string) {
    const limit = await readText(join(dir, "memory.limit_in_bytes"));
    const memsw = await readText(join(dir, "memory.memsw.limit_in_bytes")).catch(() => undefined);
    const swappiness = await readText(join(dir, "memory.swappiness")).catch(() => undefined);
    try {
      // memsw (memory + swap) must never be below the memory limit, so it opens first and closes last.
      if (memsw !== undefined) await writeFile(join(dir, "memory.memsw.limit_in_bytes"), "-1");
      if (swappiness !== undefined) await writeFile(join(dir, "memory.swappiness"), "100").catch(() => {});
      // The write reclaims synchronously; EBUSY means the kernel could not get all the way down, which still
      // leaves what it did move in swap.
      await writeFile(join(dir, "memory.limit_in_bytes"), String(this.targetMb * MB)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "EBUSY") throw e;
      });
    } finally {
      await restoreV1(dir, { limit, memsw, swappiness });
    }
  }

  private async reclaimV2(dir: string, bytes: number) {
    const swapMax = await readText(join(dir, "memory.swap.max")).catch(() => undefined);
    try {
      if (swapMax !== undefined) await writeFile(join(dir, "memory.swap.max"), "max");
      await writeFile(join(dir, "memory.reclaim"), String(bytes)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "EAGAIN") throw e; // EAGAIN: reclaimed less than asked
      });
    } finally {
      if (swapMax !== undefined) await writeFile(join(dir, "memory.swap.max"), swapMax).catch(() => {});
    }
  }

  /**
   * Before a thaw: the container's limits are exactly what Docker gave it (a node agent that died in the
   * middle of a reclaim could have left the lowered limit behind, which would starve the thawed gateway).
   */
  async restoreLimits(pid: number, memoryBytes: number, memorySwapBytes: number): Promise<void> {
    const cg = await this.cgroupOf(pid);
    if (!cg || memoryBytes <= 0) return;
    if (cg.kind === "v1") {
      const memsw = memorySwapBytes > 0 ? String(memorySwapBytes) : memorySwapBytes < 0 ? "-1" : undefined;
      await restoreV1(cg.dir, { limit: String(memoryBytes), memsw });
    } else {
      await writeFile(join(cg.dir, "memory.max"), String(memoryBytes)).catch(() => {});
      if (memorySwapBytes > 0) await writeFile(join(cg.dir, "memory.swap.max"), String(Math.max(0, memorySwapBytes - memoryBytes))).catch(() => {});
    }
  }

  /**
   * Reads the container's swapped pages back into RAM in bulk (swap-in.ts): only for an agent being woken,
   * after its limits were restored. The cgroup is the one of the container's init, found through its pid as
   * Docker reports it; the script checks every process it advises against it.
   */
  async swapIn(pid: number, opts: { deadlineMs?: number; python?: string } = {}): Promise<SwapInResult | undefined> {
    const cg = await this.cgroupOf(pid);
    if (!cg) return undefined;
    const rel = await this.cgroupPathOf(pid, cg.kind);
    if (rel === undefined) return undefined;
    return swapIn(join(cg.dir, "cgroup.procs"), cg.kind, rel, opts);
  }

  /** The cgroup path as /proc/<pid>/cgroup names it (what the swap-in compares each process with). */
  private async cgroupPathOf(pid: number, kind: "v1" | "v2"): Promise<string | undefined> {
    for (const line of (await readFile(join(this.procRoot, String(pid), "cgroup"), "utf8").catch(() => "")).split("\n")) {
      const [id, controllers, ...rest] = line.split(":");
      if (rest.length === 0) continue;
      const path = rest.join(":");
      if (kind === "v1" && controllers!.split(",").includes("memory")) return path;
      if (kind === "v2" && id === "0" && controllers === "") return path;
    }
    return undefined;
  }

  /** Reclaim statistics for the node's metrics. */
  stats() {
    return { reclaims: this.reclaims, fallbacks: Object.fromEntries(this.fallbacks) };
  }
}

async function restoreV1(dir: string, v: { limit: string; memsw?: string; swappiness?: string }) {
  // Raising: the limit first would fail while memsw is below it, so memsw opens, then both settle in order.
  if (v.memsw !== undefined) await writeFile(join(dir, "memory.memsw.limit_in_bytes"), "-1").catch(() => {});
  await writeFile(join(dir, "memory.limit_in_bytes"), v.limit);
  // memsw can only close to what the cgroup uses in RAM + swap; the agent's total never grew, so it fits.
  if (v.memsw !== undefined) await writeFile(join(dir, "memory.memsw.limit_in_bytes"), v.memsw).catch(() => {});
  if (v.swappiness !== undefined) await writeFile(join(dir, "memory.swappiness"), v.swappiness).catch(() => {});
}

async function readText(path: string) {
  return (await readFile(path, "utf8")).trim();
}

async function readNumber(path: string) {
  return Number(await readText(path));
}

async function readStat(path: string): Promise<Map<string, number>> {
  const text = await readFile(path, "utf8").catch(() => "");
  return new Map(
    text
      .split("\n")
      .map((l) => l.split(" "))
      .filter((f) => f.length === 2)
      .map(([k, v]) => [k!, Number(v)]),
  );
}

async function exists(path: string) {
  return readdir(join(path, "..")).then(
    (names) => names.includes(path.split("/").pop()!),
    () => false,
  );
}
