// DEV/TEST ONLY: a local stand-in for Browserless (browserless.io), backed by Debian's real Chromium. It
// answers the parts of Browserless's API the platform uses:
//   POST   /session?token=T          Session API: a browser of its own per session → { id, connect, stop, … }
//   DELETE /session/:id?token=T      ends it (the browser process exits)
//   WS     /session/connect/:id?token=T   CDP, relayed to that Chromium untouched, except the Browserless CDP
//                                    extension `Browserless.liveURL`, which mints a live-view URL for the page
//   GET    /live/:liveId             the live view (a page that refreshes screenshots of the agent's tab)
// Browserless streams a real interactive view; this stand-in shows a screenshot every half second, enough to
// prove the platform's plumbing end to end. Nothing here reaches the internet.
//
//   node test-harness/stand-ins/browserless.ts --port 24345 --token dev-browserless
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ChildProcess } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

// require(): bundling test runners may resolve the "browser" build of ws for an ESM import.
const { WebSocket, WebSocketServer } = createRequire(import.meta.url)("ws") as typeof import("ws");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Starts headless Chromium with its own profile; resolves with its browser-level CDP WebSocket URL. */
function launchChromium(hostRules?: string): Promise<{ ws: string; child: ChildProcess; close: () => boolean }> {
  const dir = mkdtempSync(join(tmpdir(), "bl-session-"));
  const extra = hostRules ? [`--host-resolver-rules=${hostRules}`] : [];
  const child = spawn(
    CHROMIUM,
    [
      ...extra,
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--remote-debugging-port=0",
      `--user-data-dir=${dir}`,
      "--window-size=1280,800",
      "about:blank",
    ],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  return new Promise((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`chromium did not start: ${err.slice(-400)}`)), 20_000);
    child.stderr.on("data", (d) => {
      err += d;
      const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        // The profile is removed once the process is gone (Chromium writes to it until it exits).
        child.once("exit", () => rmSync(dir, { recursive: true, force: true, maxRetries: 3 }));
        resolve({ ws: m[1]!, child, close: () => child.kill("SIGKILL") });
      }
    });
    child.once("exit", (code) => (clearTimeout(timer), reject(new Error(`chromium exited (${code}): ${err.slice(-400)}`))));
  });
}

/** One CDP call on a fresh connection (used by the live view for screenshots). */
function cdpCall(url: string, method: string, params: Record<string, unknown> = {}): Promise<any> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => (ws.terminate(), reject(new Error("CDP timeout"))), 10_000);
    ws.once("open", () => ws.send(JSON.stringify({ id: 1, method, params })));
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data));
      if (msg.id !== 1) return;
      clearTimeout(timer);
      ws.close();
      msg.error ? reject(new Error(msg.error.message)) : resolve(msg.result);
    });
    ws.once("error", (e) => (clearTimeout(timer), reject(e)));
  });
}

const LIVE_PAGE = (id: string) => `<!doctype html><meta name="viewport" content="width=device-width"><title>Live view</title>
<body style="margin:0;background:#111;color:#eee;font:14px system-ui">
<p style="margin:0;padding:4px 8px;background:#b45309">DEV ONLY: Browserless stand-in live view (screenshots, not a stream)</p>
<img id="frame" alt="The agent's browser tab" style="width:100%;display:block">
<script>const img=document.getElementById("frame");let n=0;
async function tick(){const r=await fetch("/live/${id}/frame?"+(n++));if(r.ok){const u=URL.createObjectURL(await r.blob());const old=img.src;img.src=u;if(old)URL.revokeObjectURL(old);}setTimeout(tick,500);}tick();</script>`;

/**
 * `hostRules` (Chromium's --host-resolver-rules) lets the local browser reach names that only mean something
 * elsewhere, e.g. "MAP host.docker.internal 127.0.0.1" so pages an agent opens by its edge's address load.
 */
export async function startBrowserlessStandIn({ port = 0, token = "dev-browserless", hostRules }: { port?: number; token?: string; hostRules?: string } = {}) {
  const sessions = new Map<string, { id: string; browser: Awaited<ReturnType<typeof launchChromium>>; expiresAt: number; timer: NodeJS.Timeout }>();
  /** liveId → the page it shows */
  const live = new Map<string, { port: string; targetId: string; expiresAt: number }>();
  const requests: { method?: string; path: string; body: string }[] = [];
  let counter = 0;
  const base = () => `127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function createSession(ttl: number) {
    const id = `${Date.now().toString(36)}-${(counter++).toString(36)}`;
    const browser = await launchChromium(hostRules);
    const timer = setTimeout(() => endSession(id), ttl);
    sessions.set(id, { id, browser, expiresAt: Date.now() + ttl, timer });
    return {
      id,
      connect: `ws://${base()}/session/connect/${id}?token=${token}`,
      browserWSEndpoint: `ws://${base()}/session/connect/${id}?token=${token}`,
      stop: `http://${base()}/session/${id}?token=${token}`,
      ttl,
      expiresAt: new Date(Date.now() + ttl).toISOString(),
    };
  }
  function endSession(id: string) {
    const s = sessions.get(id);
    if (!s) return false;
    clearTimeout(s.timer);
    s.browser.close();
    sessions.delete(id);
    return true;
  }
  const devtoolsPort = (s: { browser: { ws: string } }) => new URL(s.browser.ws).port;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const send = (status: number, body: unknown, type = "application/json") => {
      res.writeHead(status, { "content-type": type, "x-dev-stand-in": "true" });
      res.end(type === "application/json" ? JSON.stringify(body) : (body as string | Buffer));
    };
    let body = "";
    for await (const chunk of req) body += chunk;
    requests.push({ method: req.method, path: url.pathname, body });
    try {
      const live1 = url.pathname.match(/^\/live\/([\w-]+)(\/frame)?$/);
      if (live1) {
        const l = live.get(live1[1]!);
        if (!l || l.expiresAt < Date.now()) return send(404, "This live view has expired.", "text/plain");
        if (!live1[2]) return send(200, LIVE_PAGE(live1[1]!), "text/html; charset=utf-8");
        const shot = await cdpCall(`ws://127.0.0.1:${l.port}/devtools/page/${l.targetId}`, "Page.captureScreenshot", { format: "jpeg", quality: 60 });
        return send(200, Buffer.from(shot.data, "base64"), "image/jpeg");
      }
      if (url.searchParams.get("token") !== token) return send(401, { message: "Invalid or missing token" });
      if (req.method === "POST" && url.pathname === "/session") {
        const ttl = Number(JSON.parse(body || "{}").ttl);
        if (!Number.isInteger(ttl) || ttl <= 0) return send(400, { message: "ttl (ms) is required" });
        return send(200, await createSession(ttl));
      }
      const del = url.pathname.match(/^\/session\/([\w-]+)$/);
      if (req.method === "DELETE" && del) return endSession(del[1]!) ? send(200, { ok: true }) : send(404, { message: "Session not found" });
      if (req.method === "GET" && url.pathname === "/_sessions")
        return send(
          200,
          [...sessions.values()].map((s) => ({ id: s.id, expiresAt: s.expiresAt })),
        );
      send(404, { message: "Not found (Browserless stand-in)" });
    } catch (e) {
      send(500, { message: String(e) });
    }
  });

  // CDP relay: the client talks to its session's Chromium; Browserless.liveURL is answered here.
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://x");
    const m = url.pathname.match(/^\/session\/connect\/([\w-]+)$/);
    const session = m && sessions.get(m[1]!);
    if (url.searchParams.get("token") !== token || !session) {
      socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (client) => {
      const upstream = new WebSocket(session.browser.ws, { perMessageDeflate: false });
      const queue: string[] = [];
      const targets = new Map<string, string>(); // CDP sessionId → targetId
      const attaching = new Map<number, string>(); // request id → targetId
      upstream.on("open", () => queue.splice(0).forEach((q) => upstream.send(q)));
      upstream.on("message", (data) => {
        const msg = JSON.parse(String(data));
        if (msg.method === "Target.attachedToTarget") targets.set(msg.params.sessionId, msg.params.targetInfo.targetId);
        if (msg.id !== undefined && attaching.has(msg.id) && msg.result?.sessionId) targets.set(msg.result.sessionId, attaching.get(msg.id)!);
        client.send(String(data));
      });
      client.on("message", (data) => {
        const msg = JSON.parse(String(data));
        if (msg.method === "Browserless.liveURL") {
          const targetId = targets.get(msg.sessionId);
          const result = targetId
            ? (() => {
                const liveURLId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
                live.set(liveURLId, { port: devtoolsPort(session), targetId, expiresAt: Date.now() + (msg.params?.timeout ?? 30_000) });
                return { error: null, liveURLId, liveURL: `http://${base()}/live/${liveURLId}` };
              })()
            : { error: "Browserless.liveURL must be sent on a page's CDP session", liveURLId: null, liveURL: null };
          client.send(JSON.stringify({ id: msg.id, sessionId: msg.sessionId, result }));
          return;
        }
        if (msg.method === "Target.attachToTarget") attaching.set(msg.id, msg.params?.targetId);
        upstream.readyState === WebSocket.OPEN ? upstream.send(String(data)) : queue.push(String(data));
      });
      const closeBoth = () => (client.close(), upstream.close());
      client.on("close", closeBoth);
      upstream.on("close", closeBoth);
      upstream.on("error", closeBoth);
    });
  });

  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    sessions,
    close: () => {
      for (const id of [...sessions.keys()]) endSession(id);
      wss.close();
      server.closeAllConnections?.();
      server.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, fallback: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return (i > 0 ? process.argv[i + 1] : undefined) ?? fallback;
  };
  const s = await startBrowserlessStandIn({ port: Number(arg("port", "24345")), token: arg("token", "dev-browserless") });
  console.log(`[browserless-stand-in] DEV ONLY (local Chromium): http://127.0.0.1:${s.port}`);
}
