import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { AppError } from "../../../contracts/src/errors";
import type { App } from "../app";
import { nodes } from "../db/schema";
import { errorResponses } from "../errors";
import { sha256Hex, timingSafeEqual } from "../lib/crypto";

/**
 * The node agent dials this route with its node secret; after the check the WebSocket upgrade is handed to
 * the node's NodeLink Durable Object, which the public can never address directly.
 */
const connectRoute = createRoute({
  method: "get", path: "/nodes/{id}/connect", tags: ["nodes"],
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: { 101: { description: "WebSocket to the node's NodeLink" }, 426: errorResponses[400], ...errorResponses },
});

export function registerNodeRoutes(app: App) {
  app.openapi(connectRoute, async (c) => {
    const s = c.get("services");
    const { id } = c.req.valid("param");
    const secret = c.req.header("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (!secret) throw new AppError("UNAUTHORIZED", "Node secret missing.");
    const [node] = await s.db.select({ secretHash: nodes.secretHash, status: nodes.status }).from(nodes).where(eq(nodes.id, id));
    if (!node || !timingSafeEqual(node.secretHash, await sha256Hex(secret)) || node.status === "retired")
      throw new AppError("UNAUTHORIZED", "Unknown node or wrong secret.");
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new AppError("BAD_REQUEST", "Expected a WebSocket upgrade.");
    const headers = new Headers(c.req.raw.headers);
    headers.set("x-node-id", id);
    headers.delete("authorization");
    const res = await c.env.NODE_LINK.getByName(id).fetch(new Request(c.req.raw.url, { headers }));
    return res as never;
  });
}
