/**
 * The one way tests wait for an effect that happens after a response (a settlement, a node's report, a
 * Durable Object's alarm, a container's state): read real state again and again, bounded. Runs in Node and
 * in workerd alike (timers and promises only). Every waiting helper in the suites is built on these two.
 */
export interface PollOptions {
  /** How long to keep reading before giving up (default 10 s). */
  timeoutMs?: number;
  /** The pause between two reads (default 50 ms). */
  intervalMs?: number;
}

const DEFAULTS = { timeoutMs: 10_000, intervalMs: 50 } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads until `accept` holds or the time is up, and returns the last value read: callers assert on that
 * value, so a timeout fails in the assertion that shows what was seen.
 */
export async function poll<T>(read: () => T | Promise<T>, accept: (v: T) => boolean, opts: PollOptions = {}): Promise<T> {
  const { timeoutMs, intervalMs } = { ...DEFAULTS, ...opts };
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (accept(v) || Date.now() > end) return v;
    await sleep(intervalMs);
  }
}

/** Waits until `cond` holds; throws (naming `what`) when the time is up. For setup steps, not assertions. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, opts: PollOptions & { what?: string } = {}): Promise<void> {
  const ok = await poll(cond, (v) => v, opts);
  if (!ok) throw new Error(`timed out after ${opts.timeoutMs ?? DEFAULTS.timeoutMs} ms waiting for ${opts.what ?? "a condition"}`);
}
