import http from "node:http";
import type { AddressInfo } from "node:net";

export type Handler = (req: http.IncomingMessage, body: string, url: URL) => { status: number; json?: unknown; headers?: Record<string, string> };

/** A tiny loopback HTTP server for answering an external API's routes in tests. */
export async function serve(port: number, handler: Handler): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      try {
        const out = handler(req, body, new URL(req.url ?? "/", `http://127.0.0.1:${port}`));
        res.writeHead(out.status, { "content-type": "application/json", ...out.headers });
        res.end(out.json === undefined ? "" : JSON.stringify(out.json));
      } catch (e) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: String(e) }));
      }
    });
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  return server;
}

export const portOf = (s: http.Server) => (s.address() as AddressInfo).port;
