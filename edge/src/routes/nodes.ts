import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "@oc/contracts/errors";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireAdmin, requireUser } from "../middleware/auth";
import { rateLimit } from "../middleware/rate-limit";
import { archiveComplete, archiveLatest, archiveUpload, authenticateNode } from "../services/archives";
import { createRegistrationToken, listNodes, registerNode } from "../services/nodes";
import { body, json } from "./schemas";
import { nodeLink } from "../clients/node-link";

/**
 * The node agent dials this route with its node secret; after the check the WebSocket upgrade is handed to
 * the node's NodeLink Durable Object, which the public can never address directly.
 */
const connectRoute = createRoute({
  method: "get",
  path: "/nodes/{id}/connect",
  tags: ["nodes"],
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: { 101: { description: "WebSocket to the node's NodeLink" }, 426: errorResponses[400], ...errorResponses },
});

const createTokenRoute = createRoute({
  method: "post",
  path: "/admin/nodes/registration-tokens",
  tags: ["nodes"],
  middleware: [requireUser(), requireAdmin()] as const,
  description: "Operators: a one-time token for scripts/server-setup.sh on a new VPS. Shown once.",
  request: body(
    z.object({
      ttlMinutes: z
        .number()
        .int()
        .min(5)
        .max(7 * 24 * 60)
        .optional(),
    }),
  ),
  responses: { 201: json(z.object({ token: z.string(), expiresAt: z.string() })), ...errorResponses },
});

const registerRoute = createRoute({
  method: "post",
  path: "/nodes/register",
  tags: ["nodes"],
  middleware: [rateLimit("node-register")] as const,
  description: "Called by server-setup.sh: spends a registration token and returns the node's id and secret (once).",
  request: body(
    z.object({
      token: z.string().startsWith("ocn_").max(100),
      name: z.string().min(1).max(100),
      publicIp: z.union([z.ipv4(), z.ipv6()]).optional(),
      ramTotalMb: z.number().int().min(0).max(16_000_000).optional(),
    }),
  ),
  responses: {
    201: json(
      z.object({
        nodeId: z.string(),
        secret: z.string(),
      }),
    ),
    ...errorResponses,
  },
});

/** Archive URLs: the node authenticates with its secret, and asks only about agents placed on it. */
const archiveParams = z.object({ id: z.string().min(1).max(64), userId: z.string().regex(/^usr_[a-z2-7]{24}$/) });
const nodeAuth = z.object({ authorization: z.string().max(200).optional() });
const uploadRoute = createRoute({
  method: "post",
  path: "/nodes/{id}/archives/{userId}/upload",
  tags: ["nodes"],
  description: "Node agents: presigned URLs for one new state archive (a single PUT, or a multipart upload's create, then parts and completion).",
  request: {
    params: archiveParams,
    headers: nodeAuth,
    ...body(
      z.object({
        bytes: z.number().int().min(1).max(160_000_000_000),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        key: z.string().max(200).optional(),
        uploadId: z.string().max(1024).optional(),
      }),
    ),
  },
  responses: { 200: json(z.object({ key: z.string(), mode: z.enum(["single", "multipart", "parts"]) }).passthrough()), ...errorResponses },
});
const completeRoute = createRoute({
  method: "post",
  path: "/nodes/{id}/archives/{userId}/complete",
  tags: ["nodes"],
  description: "Node agents: the upload is stored; it becomes the archive the next restore uses.",
  request: { params: archiveParams, headers: nodeAuth, ...body(z.object({ key: z.string().max(200) })) },
  responses: { 200: json(z.object({ key: z.string(), sha256: z.string(), bytes: z.number() })), ...errorResponses },
});
const latestRoute = createRoute({
  method: "get",
  path: "/nodes/{id}/archives/{userId}/latest",
  tags: ["nodes"],
  description: "Node agents: a presigned GET of the agent's archive, with the sha256 and size it must have.",
  request: { params: archiveParams, headers: nodeAuth },
  responses: { 200: json(z.object({ key: z.string(), sha256: z.string(), bytes: z.number(), url: z.string() })), ...errorResponses },
});

const listRoute = createRoute({
  method: "get",
  path: "/admin/nodes",
  tags: ["nodes"],
  middleware: [requireUser(), requireAdmin()] as const,
  responses: {
    200: json(
      z.object({
        nodes: z.array(
          z.object({
            id: z.string(),
            name: z.string(),
            status: z.string(),
            provider: z.string(),
            publicIp: z.string().nullable(),
            connected: z.boolean(),
            lastHeartbeatAt: z.number().nullable(),
            agentVersion: z.string().nullable(),
            metrics: z.record(z.string(), z.number()).nullable(),
            committedMb: z.number(),
            agents: z.object({ running: z.number(), paused: z.number(), sleeping: z.number() }),
            recentFailures: z.array(z.object({ userId: z.string(), kind: z.string(), error: z.string(), at: z.number() })),
            unknownContainers: z.array(z.object({ userId: z.string(), state: z.string() })),
          }),
        ),
      }),
    ),
    ...errorResponses,
  },
});

export function registerNodeRoutes(app: App) {
  app.openapi(listRoute, async (c) => c.json({ nodes: await listNodes(c.get("services")) }, 200));

  app.openapi(createTokenRoute, async (c) => {
    const { token, expiresAt } = await createRegistrationToken(c.get("services"), { createdBy: c.get("user").id, ttlMinutes: c.req.valid("json").ttlMinutes });
    return c.json({ token, expiresAt: expiresAt.toISOString() }, 201);
  });

  app.openapi(registerRoute, async (c) => c.json(await registerNode(c.get("services"), c.req.valid("json"), c.get("meta")), 201));

  app.openapi(uploadRoute, async (c) => {
    const { id, userId } = c.req.valid("param");
    await authenticateNode(c.get("services"), id, c.req.header("authorization"));
    return c.json(await archiveUpload(c.get("services"), id, userId, c.req.valid("json")), 200);
  });

  app.openapi(completeRoute, async (c) => {
    const { id, userId } = c.req.valid("param");
    await authenticateNode(c.get("services"), id, c.req.header("authorization"));
    return c.json(await archiveComplete(c.get("services"), id, userId, c.req.valid("json").key), 200);
  });

  app.openapi(latestRoute, async (c) => {
    const { id, userId } = c.req.valid("param");
    await authenticateNode(c.get("services"), id, c.req.header("authorization"));
    return c.json(await archiveLatest(c.get("services"), id, userId), 200);
  });

  app.openapi(connectRoute, async (c) => {
    const s = c.get("services");
    const { id } = c.req.valid("param");
    await authenticateNode(s, id, c.req.header("authorization"));
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new AppError("BAD_REQUEST", "Expected a WebSocket upgrade.");
    const headers = new Headers(c.req.raw.headers);
    headers.set("x-node-id", id);
    headers.delete("authorization");
    const res = await nodeLink(c.env, id).fetch(new Request(c.req.raw.url, { headers }));
    return res as never;
  });
}
