// DEV/TEST ONLY: stands in for Neon's WebSocket proxy so production's @neondatabase/serverless code path
// runs unchanged against a local PostgreSQL. It forwards only to loopback addresses.
import net from "node:net";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { WebSocketServer as Wss } from "ws";

// require(): bundling test runners may resolve the "browser" build of ws for an ESM import.
const { WebSocketServer } = createRequire(import.meta.url)("ws") as typeof import("ws");

export function startBridge({ port = Number(process.env.WSPROXY_PORT ?? 24330), host = "127.0.0.1" }: { port?: number; host?: string } = {}): Promise<Wss> {
  const wss = new WebSocketServer({ host, port, perMessageDeflate: false });
  const allowed = new Set(["127.0.0.1", "localhost", "::1"]);
  wss.on("connection", (ws, req) => {
    const addr = new URL(req.url ?? "/", "http://x").searchParams.get("address") ?? "127.0.0.1:5432";
    const i = addr.lastIndexOf(":");
    const target = addr.slice(0, i);
    if (!allowed.has(target)) return ws.close(1008, "host not allowed");
    const sock = net.connect(Number(addr.slice(i + 1)), target === "localhost" ? "127.0.0.1" : target);
    sock.setNoDelay(true);
    ws.on("message", (d: Buffer) => sock.write(d));
    sock.on("data", (d) => ws.readyState === ws.OPEN && ws.send(d));
    sock.on("close", () => ws.close());
    sock.on("error", () => ws.terminate());
    ws.on("close", () => sock.destroy());
    ws.on("error", () => sock.destroy());
  });
  return new Promise((resolve, reject) => {
    wss.once("listening", () => resolve(wss));
    wss.once("error", reject);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const wss = await startBridge();
  console.log(`[pg-ws-bridge] dev-only Neon stand-in on ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
}
