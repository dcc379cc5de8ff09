import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { swapIn } from "../src/swap-in";

/**
 * The bulk swap-in's refusals, on this machine's kernel with host processes the test starts itself (no
 * container needed: the script only sees pids, cgroups and mappings). The real container path is in
 * doze.test.ts. Each refusal has its positive control: the same call pointed at what is allowed is done.
 */
const dir = mkdtempSync(join(tmpdir(), "oc-swapin-"));
const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.kill("SIGKILL")));

/** The memory cgroup path of a process, as /proc/<pid>/cgroup names it (cgroup v1 here, v2 elsewhere). */
function cgroupOf(pid: number): { kind: "v1" | "v2"; rel: string } {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const v1 = lines.map((l) => l.split(":")).find(([, c]) => c!.split(",").includes("memory"));
  if (v1) return { kind: "v1", rel: v1.slice(2).join(":") };
  return { kind: "v2", rel: lines.find((l) => l.startsWith("0::"))!.slice(3) };
}

/** A host process that maps `file` privately (untouched) and prints the mapping's address range. */
async function mapper(file: string): Promise<{ pid: number; start: string; end: string }> {
  const py = `import mmap, sys, time
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
for line in open("/proc/self/maps"):
    if line.rstrip().endswith(sys.argv[1]): print(line.split()[0], flush=True)
time.sleep(60)`;
  const child = spawn("python3", ["-c", py, file], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const line = await new Promise<string>((resolve) => child.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim())));
  const [start, end] = line.split("\n")[0]!.split("-");
  return { pid: child.pid!, start: start!, end: end! };
}

/** Bytes of `file` in the page cache (util-linux fincore). */
const cached = (file: string) => Number(execFileSync("fincore", ["--bytes", "--noheadings", "--output", "RES", file]).toString().trim());

describe("bulk swap-in refusals (host processes, real kernel)", () => {
  it("advises no process outside the woken container's cgroup (a reused pid); control: the process's own cgroup is advised", async () => {
    const child = spawn("sleep", ["60"]);
    children.push(child);
    const procs = join(dir, "procs");
    writeFileSync(procs, `${child.pid}\n`);
    const own = cgroupOf(child.pid!);
    // The pid list names a process that is not in the cgroup being woken (as after a container process exited
    // and its pid was taken by a host process): refused.
    expect(await swapIn(procs, own.kind, "/docker/not-this-process")).toMatchObject({ procs: 0, advisedBytes: 0 });
    // Positive control: the same pid with its own cgroup is advised.
    const ok = await swapIn(procs, own.kind, own.rel);
    expect(ok.procs).toBe(1);
    expect(ok.advisedBytes).toBeGreaterThan(0);
  }, 20_000);

  it("never reads a file the process maps into the page cache; control: WILLNEED on that mapping would", async () => {
    const file = join(dir, "mapped.bin");
    writeFileSync(file, Buffer.alloc(16 << 20, 7));
    const evict = `import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)`;
    execFileSync("python3", ["-c", evict, file]);
    expect(cached(file)).toBe(0);
    const m = await mapper(file);
    const procs = join(dir, "procs-mapper");
    writeFileSync(procs, `${m.pid}\n`);
    const own = cgroupOf(m.pid);
    const out = await swapIn(procs, own.kind, own.rel);
    expect(out.procs).toBe(1); // the process was advised (its anonymous memory)…
    expect(cached(file)).toBe(0); // …but not its file mapping
    // Positive control: process_madvise(MADV_WILLNEED) over the file mapping itself reads it in, so the check
    // above would have seen it.
    const willneed = `import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True); libc.syscall.restype = ctypes.c_long
class iovec(ctypes.Structure): _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
pidfd = libc.syscall(434, int(sys.argv[1]), 0)
s, e = int(sys.argv[2], 16), int(sys.argv[3], 16)
iov = (iovec * 1)(iovec(s, e - s))
assert libc.syscall(440, pidfd, iov, 1, 3, 0) == e - s, ctypes.get_errno()`;
    execFileSync("python3", ["-c", willneed, String(m.pid), m.start, m.end]);
    expect(cached(file)).toBeGreaterThan(1 << 20);
  }, 20_000);
});
