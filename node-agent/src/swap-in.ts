import { execFile } from "node:child_process";

/**
 * Bulk swap-in of a container that is being woken: asks the kernel to read every swapped page of the
 * container's processes back into RAM (`process_madvise(MADV_WILLNEED)` over their private anonymous
 * mappings), so the gateway does not fault its ~1 GiB back one page at a time from compressed swap while it
 * answers. The kernel does the work in the caller's context (zram decompresses synchronously), on a core the
 * frozen or busy gateway is not using, and charges the pages to the container's own memory cgroup (the one
 * recorded with each swap entry), which thawing gave its full limit back first.
 *
 * Node has no binding for pidfd_open/process_madvise, so a short Python script (stdlib ctypes only) does it;
 * `scripts/server-setup.sh` installs python3 on worker nodes. Without python3 the swap-in is skipped and the
 * thaw works as before (pages fault in on demand).
 *
 * Every container is hostile, so the script trusts nothing the tenant controls:
 * - pids come from the container's cgroup.procs (kernel-provided); each is opened as a pidfd first and only
 *   then checked to be in the container's cgroup, so a pid that exited and was reused by a host process is
 *   never advised; the advice goes through the pidfd, which stays with the process it was opened for, and
 *   the mappings read from /proc/<pid>/maps are used only if the pidfd shows the process still alive after
 *   reading them (a live process's pid cannot have been reused);
 * - only private anonymous mappings (no backing file: heap, stack, anonymous and named-anonymous memory) are
 *   advised: WILLNEED on a file mapping would read the tenant's files into the node's page cache on the host's
 *   account; the text of a mapping's name is never interpreted;
 * - it reads no path inside the container, follows no link, and stops at its deadline.
 */

export const SWAP_IN_PY = String.raw`
import ctypes, os, sys, time
cgroup_procs, kind, rel, deadline_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
deadline = time.monotonic() + deadline_ms / 1000
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_pidfd_open, SYS_pidfd_send_signal, SYS_process_madvise = 434, 424, 440
MADV_WILLNEED, UIO_MAXIOV = 3, 1024
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

def cgroup_of(pid):
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f.read().splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3: continue
            if kind == "v1" and "memory" in parts[1].split(","): return parts[2]
            if kind == "v2" and parts[0] == "0" and parts[1] == "": return parts[2]
    return None

def alive(pidfd):
    return libc.syscall(SYS_pidfd_send_signal, pidfd, 0, None, 0) == 0

def anon_ranges(pid):
    out = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f.read().splitlines():
            fields = line.split(None, 5)
            if len(fields) < 5: continue
            perms, inode = fields[1], fields[4]
            name = fields[5] if len(fields) == 6 else ""
            if len(perms) != 4 or perms[3] != "p" or perms[0] != "r" or inode != "0": continue
            if name and name not in ("[heap]", "[stack]") and not name.startswith("[anon:"): continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if end > start: out.append((start, end))
    return out

advised = procs = 0
with open(cgroup_procs) as f:
    pids = [int(x) for x in f.read().split() if x.isdigit()]
for pid in pids:
    if time.monotonic() > deadline: break
    pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
    if pidfd < 0: continue
    try:
        try:
            if cgroup_of(pid) != rel: continue
            ranges = anon_ranges(pid)
        except OSError:
            continue
        if not alive(pidfd): continue
        procs += 1
        i = 0
        while i < len(ranges) and time.monotonic() <= deadline:
            batch = ranges[i:i + UIO_MAXIOV]
            iov = (iovec * len(batch))(*[iovec(s, e - s) for s, e in batch])
            n = libc.syscall(SYS_process_madvise, pidfd, iov, len(batch), MADV_WILLNEED, 0)
            if n < 0:
                i += 1  # this range went away (the process unmapped it): go on after it
                continue
            advised += n
            done = 0
            for s, e in batch:
                if n < e - s: break
                n -= e - s
                done += 1
            i += max(done, 1)
    finally:
        os.close(pidfd)
print("%d %d" % (procs, advised))
`;

export interface SwapInResult {
  /** Processes of the container whose memory was advised. */
  procs: number;
  /** Address space advised (bytes), not pages read: only what sat in swap is read back. */
  advisedBytes: number;
  ms: number;
}

/**
 * Runs the swap-in for one container's memory cgroup (`procsPath` is its cgroup.procs on the host, `rel` its
 * path as /proc/<pid>/cgroup names it). Rejects when python3 is missing or the kernel lacks the syscalls.
 */
export function swapIn(procsPath: string, kind: "v1" | "v2", rel: string, opts: { deadlineMs?: number; python?: string } = {}): Promise<SwapInResult> {
  const started = Date.now();
  const deadlineMs = opts.deadlineMs ?? 10_000;
  return new Promise((resolve, reject) => {
    execFile(
      opts.python ?? "python3",
      ["-I", "-S", "-c", SWAP_IN_PY, procsPath, kind, rel, String(deadlineMs)],
      { timeout: deadlineMs + 5_000, env: {}, maxBuffer: 64 * 1024 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`swap-in failed: ${err.message}${stderr ? ` (${stderr.trim().split("\n").pop()})` : ""}`));
        const [procs, advised] = stdout.trim().split(" ").map(Number);
        resolve({ procs: procs ?? 0, advisedBytes: advised ?? 0, ms: Date.now() - started });
      },
    );
  });
}
