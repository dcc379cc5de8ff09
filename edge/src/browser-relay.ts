import { AppError } from "@oc/contracts/errors";
import { newApp } from "./app";
import { openWebSocket } from "./lib/cdp";
import { init } from "./middleware/init";
import { requestId } from "./middleware/request-id";
import { parseBrowserKey, presentedBrowserKey } from "./lib/browser-keys";
import { relayTarget } from "./services/browser";
import type { Services } from "./services/context";
import { userAgent } from "./clients/user-agent";

/**
 * /browser: the CDP endpoint an agent's OpenClaw opens as its remote browser. The agent authenticates with
 * its browser key (lib/browser-keys.ts; never its proxy key, which can spend money) in the Authorization
 * header: its config holds the key as the user:password part of the CDP URL, which OpenClaw sends as Basic
 * auth and strips from every URL it requests or logs. A key in the query string is refused, so no client can
 * put one where access logs keep it. The edge connects to the agent's Browserless session with the operator's
 * token and pipes frames both ways, unchanged.
 */
export const browserRelay = newApp("/browser");
browserRelay.use(requestId(), init());

/** The agent the key belongs to; one key opens only its own agent's browser. */
async function authorizedAgent(s: Services, req: Request, agentId?: string): Promise<string> {
  if (/[?&](token|key|apiKey)=/i.test(new URL(req.url).search))
    throw new AppError("UNAUTHORIZED", "Send the browser key in the Authorization header, never in the URL.");
  const key = await parseBrowserKey(presentedBrowserKey(req.headers));
  const check: { ok: boolean; agentId?: string } = key ? await userAgent(s.env, key.userId).checkBrowserKey(key.keyHash) : { ok: false };
  if (!check.ok || !check.agentId) throw new AppError("UNAUTHORIZED", "This browser key is not valid (it may have been replaced).");
  if (agentId && agentId !== check.agentId) throw new AppError("FORBIDDEN", "This key belongs to another agent.");
  return check.agentId;
}

// CDP discovery, for clients that probe before connecting (OpenClaw does, to name the browser).
browserRelay.get("/json/version", async (c) => {
  const agentId = await authorizedAgent(c.get("services"), c.req.raw);
  const url = new URL(c.req.url);
  return c.json({
    Browser: "OpenClaw Cloud browser relay",
    "Protocol-Version": "1.3",
    webSocketDebuggerUrl: `${url.protocol === "https:" ? "wss:" : "ws:"}//${url.host}/browser/devtools/browser/${agentId}`,
  });
});

browserRelay.get("/devtools/browser/:agentId", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new AppError("BAD_REQUEST", "Connect with a WebSocket (Chrome DevTools Protocol).");
  const s = c.get("services");
  const agentId = await authorizedAgent(s, c.req.raw, c.req.param("agentId"));
  const target = await relayTarget(s, agentId);
  if (!target) throw new AppError("CONFLICT", "The browser is off for this agent. Its owner can turn it on in the dashboard.");
  let upstream: WebSocket;
  try {
    upstream = await openWebSocket(target);
  } catch (e) {
    throw new AppError("UPSTREAM_ERROR", "The browser service did not answer.", { cause: e });
  }
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  server.accept();
  pipe(server, upstream);
  pipe(upstream, server);
  return new Response(null, { status: 101, webSocket: client });
});

/** Frames from `from` go to `to` as they are; either side closing closes the other. */
function pipe(from: WebSocket, to: WebSocket) {
  from.addEventListener("message", (e) => {
    try {
      to.send(e.data);
    } catch {
      from.close(1011, "peer gone");
    }
  });
  const close = (e: CloseEvent | Event) => {
    const code = "code" in e && e.code >= 1000 && e.code < 5000 && e.code !== 1005 && e.code !== 1006 ? e.code : 1000;
    try {
      to.close(code, "peer closed");
    } catch {
      // already closed
    }
  };
  from.addEventListener("close", close);
  from.addEventListener("error", close);
}
