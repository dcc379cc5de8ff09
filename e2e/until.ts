/**
 * Reads until `ok` holds or `ms` pass, and returns the last value read: for effects that happen after a
 * response (a node's report, a Durable Object's alarm). Callers assert on the value, so a timeout fails there.
 */
export async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  let v = await read();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, everyMs));
    v = await read();
  }
  return v;
}
