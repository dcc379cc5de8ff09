import { AppError } from "../../contracts/src/errors";
import { newApp } from "./app";
import { openWebSocket } from "./lib/cdp";
import { init } from "./middleware/init";
import { requestId } from "./middleware/request-id";
import { parseProxyKey, presentedKey } from "./proxy/keys";
import { relayTarget } from "./services/browser";
import type { Services } from "./services/context";

/**
 * /browser: the CDP endpoint an agent's OpenClaw opens as its remote browser. The agent authenticates with
 * its proxy key (`?token=`, the form OpenClaw keeps on every CDP URL it derives); the edge connects to the
 * agent's Browserless session with the operator's token and pipes frames both ways, unchanged.
 */
export const browserRelay = newApp("/browser");
browserRelay.use(requestId(), init());

/** The agent the key belongs to; one key opens only its own agent's browser. */
async function authorizedAgent(s: Services, token: string | undefined, agentId?: string): Promise<string> {
  const key = await parseProxyKey(token);
  const check: { ok: boolean; agentId?: string } = key ? await s.env.USER_AGENT.getByName(key.userId).checkKey(key.keyHash) : { ok: false };
  if (!check.ok || !check.agentId) throw new AppError("UNAUTHORIZED", "This browser key is not valid (it may have been replaced).");
  if (agentId && agentId !== check.agentId) throw new AppError("FORBIDDEN", "This key belongs to another agent.");
  return check.agentId;
}

// CDP discovery, for clients that probe before connecting (OpenClaw does, to name the browser).
browserRelay.get("/json/version", async (c) => {
  const agentId = await authorizedAgent(c.get("services"), c.req.query("token") ?? presentedKey(c.req.raw.headers));
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
  const agentId = await authorizedAgent(s, c.req.query("token") ?? presentedKey(c.req.raw.headers), c.req.param("agentId"));
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
