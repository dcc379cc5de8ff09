import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Doze } from "../src/doze";

/**
 * The reclaim's bookkeeping against a cgroup tree laid out like the kernel's, in a scratch dir: cgroup v2
 * (which this test machine does not have) and the refusals that keep a node safe. The real kernel path
 * (cgroup v1, zram) is exercised in doze.test.ts.
 */
const MB = 1024 * 1024;
const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function tree(kind: "v1" | "v2", files: Record<string, string>, swaps: string) {
  const root = mkdtempSync(join(tmpdir(), "oc-cg-"));
  roots.push(root);
  const proc = join(root, "proc");
  mkdirSync(join(proc, "42"), { recursive: true });
  writeFileSync(join(proc, "swaps"), `Filename\tType\tSize\tUsed\tPriority\n${swaps}`);
  const cg = join(root, "cg");
  const dir = kind === "v1" ? join(cg, "memory", "docker", "abc") : join(cg, "system.slice", "docker-abc.scope");
  mkdirSync(dir, { recursive: true });
  if (kind === "v2") writeFileSync(join(cg, "cgroup.controllers"), "cpu memory pids\n");
  writeFileSync(join(proc, "42", "cgroup"), kind === "v1" ? "12:memory:/docker/abc\n11:freezer:/docker/abc\n" : "0::/system.slice/docker-abc.scope\n");
  for (const [name, value] of Object.entries(files)) writeFileSync(join(dir, name), value);
  const sys = join(root, "sys");
  mkdirSync(join(sys, "block", "zram0"), { recursive: true });
  writeFileSync(join(sys, "block", "zram0", "mm_stat"), `${800 * MB} ${300 * MB} ${320 * MB} 0 0 0 0 0 0\n`);
  return { doze: new Doze({ cgroupRoot: cg, procRoot: proc, sysRoot: sys }), read: (name: string) => readFileSync(join(dir, name), "utf8").trim() };
}

describe("doze bookkeeping on a cgroup tree", () => {
  it("cgroup v2: asks memory.reclaim for everything above the target and closes the swap allowance again", async () => {
    const { doze, read } = tree(
      "v2",
      {
        "memory.current": String(1000 * MB),
        "memory.swap.current": "0",
        "memory.max": String(2048 * MB),
        "memory.swap.max": "0",
        "memory.stat": "anon 900\nfile 100\n",
      },
      "/dev/zram0 partition 4194304 0 100\n",
    );
    const out = await doze.reclaim(42);
    expect(out.mode).toBe("reclaimed");
    expect(Number(read("memory.reclaim"))).toBe((1000 - doze.targetMb) * MB);
    expect(read("memory.swap.max")).toBe("0"); // a running agent still never swaps
    expect(read("memory.max")).toBe(String(2048 * MB));
    // What it holds counts swapped pages at zram's measured ratio (320 MiB of RAM for 800 MiB stored).
    writeFileSync(join(doze["cgroupRoot"], "system.slice", "docker-abc.scope", "memory.swap.current"), String(800 * MB));
    expect(await doze.held(42)).toEqual({ residentMb: 1000, swappedMb: 800, compressedMb: 320 });
  });

  it("cgroup v1: the limit goes back exactly, swap (memsw) closes again, swappiness is restored", async () => {
    const { doze, read } = tree(
      "v1",
      {
        "memory.usage_in_bytes": String(1000 * MB),
        "memory.limit_in_bytes": String(2048 * MB),
        "memory.memsw.limit_in_bytes": String(2048 * MB),
        "memory.swappiness": "60",
        "memory.stat": "rss 900\nswap 0\n",
      },
      "/dev/zram0 partition 4194304 0 100\n",
    );
    expect((await doze.reclaim(42)).mode).toBe("reclaimed");
    expect(read("memory.limit_in_bytes")).toBe(String(2048 * MB));
    expect(read("memory.memsw.limit_in_bytes")).toBe(String(2048 * MB));
    expect(read("memory.swappiness")).toBe("60");
    // A node agent that died mid-reclaim left a low limit behind: the thaw puts Docker's limits back first.
    writeFileSync(join(doze["cgroupRoot"], "memory", "docker", "abc", "memory.limit_in_bytes"), String(120 * MB));
    await doze.restoreLimits(42, 2048 * MB, 2048 * MB);
    expect(read("memory.limit_in_bytes")).toBe(String(2048 * MB));
  });

  it("refuses where it would not be safe, and says why (plain freeze instead)", async () => {
    const v2 = { "memory.current": String(1000 * MB), "memory.swap.current": "0", "memory.max": String(2048 * MB), "memory.swap.max": "0", "memory.stat": "" };
    const full = tree("v2", v2, "/dev/zram0 partition 4194304 3900000 100\n"); // 3.8 of 4 GiB used
    expect(await full.doze.reclaim(42)).toMatchObject({ mode: "frozen", reason: "not enough free swap" });
    expect(() => full.read("memory.reclaim")).toThrow(); // nothing was asked of the kernel
    const disk = tree("v2", v2, "/swapfile file 4194304 0 -2\n");
    expect(await disk.doze.reclaim(42)).toMatchObject({ mode: "frozen", reason: "swap is not compressed (zram or zswap)" });
    const none = tree("v2", v2, "");
    expect(await none.doze.reclaim(42)).toMatchObject({ mode: "frozen", reason: "no swap on this node" });
    expect(none.doze.stats()).toEqual({ reclaims: 0, fallbacks: { "no swap on this node": 1 } });
    // Positive control: the same cgroup with free compressed swap is reclaimed.
    expect((await tree("v2", v2, "/dev/zram0 partition 4194304 0 100\n").doze.reclaim(42)).mode).toBe("reclaimed");
  });

  it("zswap in front of a swap file (cgroup v1): swapped pages count at the pool's ratio from /proc/meminfo", async () => {
    const v1 = { "memory.usage_in_bytes": String(64 * MB), "memory.limit_in_bytes": String(2048 * MB), "memory.stat": `rss ${60 * MB}\nswap ${900 * MB}\n` };
    const t = tree("v1", v1, "/var/lib/openclaw/swapfile file 4194304 921600 100\n");
    const sys = join(t.doze["sysRoot"], "module", "zswap", "parameters");
    mkdirSync(sys, { recursive: true });
    writeFileSync(join(sys, "enabled"), "Y\n");
    // 1,800 MiB of pages in the pool take 450 MiB of RAM: 0.25 per byte stored.
    writeFileSync(join(t.doze["procRoot"], "meminfo"), `MemTotal:       24000000 kB\nZswap:            ${450 * 1024} kB\nZswapped:       ${1800 * 1024} kB\n`);
    expect(await t.doze.swap()).toMatchObject({ kind: "zswap", ratio: 0.25 });
    expect(await t.doze.held(42)).toEqual({ residentMb: 64, swappedMb: 900, compressedMb: 225 });
    // Control: the same swap file with zswap off is plain disk swap, which a doze does not reclaim into.
    writeFileSync(join(sys, "enabled"), "N\n");
    expect(await t.doze.swap()).toMatchObject({ kind: "disk", ratio: 1 });
    expect(await t.doze.reclaim(42)).toMatchObject({ mode: "frozen", reason: "swap is not compressed (zram or zswap)" });
  });

  it("zswap in front of zram (a kernel that turns zswap on by default): both pools are counted", async () => {
    const t = tree("v1", { "memory.usage_in_bytes": String(64 * MB), "memory.stat": `swap ${1000 * MB}\n` }, "/dev/zram0 partition 4194304 921600 100\n");
    const sys = join(t.doze["sysRoot"], "module", "zswap", "parameters");
    mkdirSync(sys, { recursive: true });
    writeFileSync(join(sys, "enabled"), "Y\n");
    writeFileSync(join(t.doze["procRoot"], "meminfo"), `Zswap:            ${450 * 1024} kB\nZswapped:       ${1800 * 1024} kB\n`);
    // zram keeps 320 MiB for 800 stored, zswap 450 for 1,800: 770 MiB of RAM for 2,600 MiB of pages.
    expect((await t.doze.held(42))?.compressedMb).toBe(Math.round((1000 * 770) / 2600));
    // Control: zswap off, only zram's own ratio.
    writeFileSync(join(sys, "enabled"), "N\n");
    expect((await t.doze.held(42))?.compressedMb).toBe(400);
  });
});
