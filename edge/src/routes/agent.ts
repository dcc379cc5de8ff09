import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../app";
import { AppError } from "@oc/contracts/errors";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import { getRouterModel, sendAgentMessage, setRouterModel } from "../services/agent-controls";
import { provisionAgent, rotateProxyKey } from "../services/agent-config";
import { liveEvents } from "./live-events";
import { routerReport } from "../services/router-report";
import { body, json } from "./schemas";
import { userAgent } from "../clients/user-agent";

const auth = [requireUser()];

const routes = {
  proxyKey: createRoute({
    method: "post",
    path: "/agent/proxy-key",
    tags: ["agent"],
    middleware: auth,
    description:
      "Issues a new key for the metering proxy (/v1) and, with it, the agent's browser key (only for its remote browser at /browser, sent as Authorization; it spends nothing), revoking the previous pair. Shown once. A provisioned agent gets both in its config at once (appliedToAgent).",
    responses: {
      201: json(z.object({ agentId: z.string(), key: z.string(), browserKey: z.string(), baseUrl: z.string(), appliedToAgent: z.boolean() })),
      ...errorResponses,
    },
  }),
  provision: createRoute({
    method: "post",
    path: "/agent/provision",
    tags: ["agent"],
    middleware: auth,
    description:
      "Creates the user's agent on the best node (needs an active plan or an operator's grant: PAYMENT_REQUIRED otherwise; at most a few attempts per hour). Follow progress with GET /agent/status.",
    responses: {
      202: json(z.object({ agentId: z.string(), nodeId: z.string(), status: z.string() }), "Accepted: the node is creating the agent"),
      503: errorResponses[500],
      ...errorResponses,
    },
  }),
  status: createRoute({
    method: "get",
    path: "/agent/status",
    tags: ["agent"],
    middleware: auth,
    responses: {
      200: json(
        z.object({
          status: z.string(),
          lastActivityAt: z.number().nullable(),
          activity: z.array(z.object({ id: z.number(), at: z.number(), kind: z.string(), message: z.string() })),
        }),
      ),
      ...errorResponses,
    },
  }),
  send: createRoute({
    method: "post",
    path: "/agent/messages",
    tags: ["agent"],
    middleware: auth,
    description: "Sends a message to the agent (needs paid access). A sleeping agent is woken first; messages are delivered in order.",
    request: body(z.object({ text: z.string().trim().min(1).max(100_000), session: z.string().min(1).max(200).optional() })),
    responses: { 202: json(z.object({ id: z.number(), state: z.enum(["queued", "sent", "answered", "failed"]) })), ...errorResponses },
  }),
  messages: createRoute({
    method: "get",
    path: "/agent/messages",
    tags: ["agent"],
    middleware: auth,
    request: { query: z.object({ q: z.string().max(200).optional(), limit: z.coerce.number().int().min(1).max(200).default(50) }) },
    responses: {
      200: json(
        z.object({
          messages: z.array(
            z.object({
              id: z.number(),
              at: z.number(),
              session: z.string(),
              text: z.string(),
              reply: z.string().nullable(),
              error: z.string().nullable(),
              state: z.enum(["queued", "sent", "answered", "failed"]),
            }),
          ),
        }),
      ),
      ...errorResponses,
    },
  }),
  sleep: createRoute({
    method: "post",
    path: "/agent/sleep",
    tags: ["agent"],
    middleware: auth,
    description: "Puts the running agent to sleep now (its state goes to storage; the next message wakes it).",
    responses: { 202: json(z.object({ sleeping: z.boolean() })), ...errorResponses },
  }),
  getRouter: createRoute({
    method: "get",
    path: "/agent/router",
    tags: ["agent"],
    middleware: auth,
    responses: {
      200: json(
        z.object({
          model: z.string(),
          options: z.array(z.object({ id: z.string(), format: z.string(), bestFor: z.string(), inputPer1M: z.number(), outputPer1M: z.number() })),
        }),
      ),
      ...errorResponses,
    },
  }),
  setRouter: createRoute({
    method: "put",
    path: "/agent/router",
    tags: ["agent"],
    middleware: auth,
    description: 'Smart Router: "auto" (cheapest capable model per request) or one fixed model. A running agent restarts on it.',
    request: body(z.object({ model: z.string().min(1).max(60) })),
    responses: { 200: json(z.object({ model: z.string(), appliedToAgent: z.boolean() })), ...errorResponses },
  }),
  routerReport: createRoute({
    method: "get",
    path: "/agent/router/report",
    tags: ["agent"],
    middleware: auth,
    description: "Smart Router for one month: what it chose and why, and the cost against always using the strongest model.",
    request: { query: z.object({ month: z.string().regex(/^\d{4}-\d{2}$/) }) },
    responses: { 200: json(z.record(z.string(), z.unknown())), ...errorResponses },
  }),
  routerConversations: createRoute({
    method: "get",
    path: "/agent/router/conversations",
    tags: ["agent"],
    middleware: auth,
    description: 'Recent conversations the router pinned (tier, model), with their "use the best model" switch.',
    responses: {
      200: json(
        z.object({
          conversations: z.array(z.object({ key: z.string(), tier: z.string(), model: z.string(), at: z.number(), best: z.boolean(), label: z.string() })),
        }),
      ),
      ...errorResponses,
    },
  }),
  routerConversationBest: createRoute({
    method: "put",
    path: "/agent/router/conversations/{key}",
    tags: ["agent"],
    middleware: auth,
    description: 'Turns "use the best model" on or off for one conversation.',
    request: { params: z.object({ key: z.string().min(1).max(40) }), ...body(z.object({ best: z.boolean() })) },
    responses: { 200: json(z.object({ key: z.string(), best: z.boolean() })), ...errorResponses },
  }),
  events: createRoute({
    method: "get",
    path: "/agent/events",
    tags: ["agent"],
    middleware: auth,
    description: "Server-sent events: `activity` for each new activity event and `status` when the agent's status changes. Reconnect with Last-Event-ID.",
    responses: { 200: { description: "text/event-stream", content: { "text/event-stream": { schema: z.string() } } }, ...errorResponses },
  }),
  balance: createRoute({
    method: "get",
    path: "/agent/balance",
    tags: ["agent"],
    middleware: auth,
    responses: {
      200: json(z.object({ balance: z.number().int(), reserved: z.number().int(), available: z.number().int(), unit: z.literal("micro_usd") })),
      ...errorResponses,
    },
  }),
};

export function registerAgentRoutes(app: App) {
  app.openapi(routes.proxyKey, async (c) => {
    const { agentId, key, browserKey, appliedToAgent } = await rotateProxyKey(c.get("services"), c.get("user").id, c.get("meta"));
    return c.json({ agentId, key, browserKey, appliedToAgent, baseUrl: `${c.get("services").env.APP_URL}/v1` }, 201);
  });
  app.openapi(routes.provision, async (c) => c.json(await provisionAgent(c.get("services"), c.get("user").id, c.get("meta")), 202));
  app.openapi(routes.status, async (c) => {
    const account = userAgent(c.get("services").env, c.get("user").id);
    const [snap, activity] = await Promise.all([account.getSnapshot(), account.listActivity(20)]);
    return c.json({ status: snap.status, lastActivityAt: snap.lastActivityAt, activity }, 200);
  });
  app.openapi(routes.send, async (c) => {
    const { text, session } = c.req.valid("json");
    return c.json(await sendAgentMessage(c.get("services"), c.get("user").id, text, session), 202);
  });
  app.openapi(routes.messages, async (c) => {
    const { q, limit } = c.req.valid("query");
    return c.json({ messages: await userAgent(c.get("services").env, c.get("user").id).listMessages(limit, q || undefined) }, 200);
  });
  app.openapi(routes.events, (c) => liveEvents(c, userAgent(c.get("services").env, c.get("user").id), Number(c.req.header("last-event-id") ?? 0) || 0));
  app.openapi(routes.sleep, async (c) => c.json({ sleeping: await userAgent(c.get("services").env, c.get("user").id).requestSleep("deep", true) }, 202));
  app.openapi(routes.getRouter, async (c) => c.json(await getRouterModel(c.get("services"), c.get("user").id), 200));
  app.openapi(routes.routerReport, async (c) => c.json(await routerReport(c.get("services"), c.get("user").id, c.req.valid("query").month), 200));
  app.openapi(routes.routerConversations, async (c) =>
    c.json({ conversations: await userAgent(c.get("services").env, c.get("user").id).routeConversations() }, 200),
  );
  app.openapi(routes.routerConversationBest, async (c) => {
    const { key } = c.req.valid("param");
    const { best } = c.req.valid("json");
    if (!(await userAgent(c.get("services").env, c.get("user").id).setConversationBest(key, best)))
      throw new AppError("NOT_FOUND", "No such conversation (it may have expired).");
    return c.json({ key, best }, 200);
  });
  app.openapi(routes.setRouter, async (c) => c.json(await setRouterModel(c.get("services"), c.get("user").id, c.req.valid("json").model, c.get("meta")), 200));
  app.openapi(routes.balance, async (c) => {
    const b = await userAgent(c.get("services").env, c.get("user").id).getBalance();
    return c.json({ ...b, unit: "micro_usd" as const }, 200);
  });
}
