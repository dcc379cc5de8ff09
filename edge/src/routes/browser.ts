import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import { browserLiveView, browserSnapshot, browserStatus, setBrowserEnabled } from "../services/browser";
import { body, json } from "./schemas";

/** Browser Agent Viewer: the agent's remote browser (Browserless), its tabs, a snapshot and the live view. */
const auth = [requireUser()];
const tab = z.object({ id: z.string(), title: z.string(), url: z.string() });
const targetId = z.object({
  tab: z
    .string()
    .regex(/^[A-F0-9]{8,64}$/i, "must be a tab id from GET /agent/browser")
    .optional(),
});

const routes = {
  status: createRoute({
    method: "get",
    path: "/agent/browser",
    tags: ["agent"],
    middleware: auth,
    responses: {
      200: json(
        z.object({ offered: z.boolean(), enabled: z.boolean(), sessionEndsAt: z.string().optional(), tabs: z.array(tab), unreachable: z.boolean().optional() }),
      ),
      ...errorResponses,
    },
  }),
  set: createRoute({
    method: "put",
    path: "/agent/browser",
    tags: ["agent"],
    middleware: auth,
    description: "Turns the agent's remote browser on or off; a running agent restarts with it.",
    request: body(z.object({ enabled: z.boolean() })),
    responses: { 200: json(z.object({ enabled: z.boolean(), appliedToAgent: z.boolean() })), ...errorResponses },
  }),
  snapshot: createRoute({
    method: "get",
    path: "/agent/browser/snapshot",
    tags: ["agent"],
    middleware: auth,
    request: { query: targetId },
    responses: { 200: { description: "A JPEG of the tab" }, ...errorResponses },
  }),
  live: createRoute({
    method: "post",
    path: "/agent/browser/live",
    tags: ["agent"],
    middleware: auth,
    description: "A one-time live view URL (Browserless) of the agent's tab, valid for 10 minutes.",
    request: body(targetId),
    responses: { 200: json(z.object({ liveURL: z.string(), tab, expiresAt: z.string() })), ...errorResponses },
  }),
};

export function registerBrowserRoutes(app: App) {
  app.openapi(routes.status, async (c) => c.json(await browserStatus(c.get("services"), c.get("user").id), 200));
  app.openapi(routes.set, async (c) => c.json(await setBrowserEnabled(c.get("services"), c.get("user").id, c.req.valid("json").enabled, c.get("meta")), 200));
  app.openapi(routes.snapshot, async (c) => {
    const jpeg = await browserSnapshot(c.get("services"), c.get("user").id, c.req.valid("query").tab);
    return new Response(jpeg, { headers: { "content-type": "image/jpeg", "cache-control": "no-store" } }) as never;
  });
  app.openapi(routes.live, async (c) => c.json(await browserLiveView(c.get("services"), c.get("user").id, c.req.valid("json").tab), 200));
}
