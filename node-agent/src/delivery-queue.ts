/**
 * One ordered line per user: messages and channel updates for one agent are handed to its container
 * strictly one after another, in the order they arrived, whatever becomes of the ones before (a failed
 * delivery does not hold the line). Also counts what is queued or in flight, which a doze must not freeze.
 */
export class DeliveryQueue {
  private readonly lines = new Map<string, Promise<unknown>>();
  private readonly working = new Map<string, number>();

  /** Runs `job` after every earlier job for this user. */
  run<T>(userId: string, job: () => Promise<T>): Promise<T> {
    this.working.set(userId, (this.working.get(userId) ?? 0) + 1);
    const next = (this.lines.get(userId) ?? Promise.resolve()).then(job, job);
    const settled = next
      .catch(() => {})
      .finally(() => {
        const n = (this.working.get(userId) ?? 1) - 1;
        if (n > 0) this.working.set(userId, n);
        else this.working.delete(userId);
      });
    this.lines.set(userId, settled);
    return next;
  }

  /** Messages or updates for this user are queued or in flight. */
  busy(userId: string): boolean {
    return (this.working.get(userId) ?? 0) > 0;
  }
}
