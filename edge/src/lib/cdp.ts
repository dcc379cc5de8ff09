/**
 * Outbound WebSockets from a Worker: fetch() with `Upgrade: websocket` to the http(s) form of the URL. Used to
 * reach the agent's remote browser (Browserless) for the Browser Agent Viewer and the container's CDP relay.
 */
export async function openWebSocket(url: string): Promise<WebSocket> {
  const res = await fetch(url.replace(/^ws/, "http"), { headers: { Upgrade: "websocket" } });
  const ws = res.webSocket;
  if (!ws) throw new Error(`the browser service refused the connection (HTTP ${res.status})`);
  ws.accept();
  return ws;
}

export interface CdpClient {
  send<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>, sessionId?: string): Promise<T>;
  close(): void;
}

/** A minimal Chrome DevTools Protocol client: numbered calls, answers matched by id, a timeout per call. */
export async function connectCdp(url: string, timeoutMs = 10_000): Promise<CdpClient> {
  const ws = await openWebSocket(url);
  let next = 0;
  const pending = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  const failAll = (why: string) => {
    for (const p of pending.values()) (clearTimeout(p.timer), p.reject(new Error(why)));
    pending.clear();
  };
  ws.addEventListener("message", (e) => {
    const msg = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: { message: string } };
    const p = msg.id === undefined ? undefined : pending.get(msg.id);
    if (!p) return; // events are not needed here
    pending.delete(msg.id!);
    clearTimeout(p.timer);
    msg.error ? p.reject(new Error(msg.error.message)) : p.resolve(msg.result as never);
  });
  ws.addEventListener("close", () => failAll("the browser connection closed"));
  ws.addEventListener("error", () => failAll("the browser connection failed"));
  return {
    send: (method, params = {}, sessionId) =>
      new Promise((resolve, reject) => {
        const id = ++next;
        const timer = setTimeout(() => (pending.delete(id), reject(new Error(`${method} timed out`))), timeoutMs);
        pending.set(id, { resolve, reject, timer });
        ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      }),
    close: () => ws.close(1000, "done"),
  };
}
