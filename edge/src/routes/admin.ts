import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireAdmin, requireUser } from "../middleware/auth";
import { operatorOverview } from "../services/fleet/console";
import { checkFleet, drainNode } from "../services/fleet/fleet";
import { body, json, ok } from "./schemas";
import { catalogVersions, publishCatalog } from "../proxy/catalog-store";
import { grantAccess, listGrants, revokeGrant } from "../services/entitlement";
import { fleetScheduler } from "../clients/fleet";

/** The operator console's API (admins only): fleet, orders, failures, money, spenders, stopped loops. */
const admin = [requireUser(), requireAdmin()];
const anyJson = json(z.record(z.string(), z.unknown()));

const routes = {
  overview: createRoute({ method: "get", path: "/admin/overview", tags: ["admin"], middleware: admin, responses: { 200: anyJson, ...errorResponses } }),
  check: createRoute({
    method: "post",
    path: "/admin/fleet/check",
    tags: ["admin"],
    middleware: admin,
    description: "Runs the fleet check now (it also runs every minute): node lifecycle, moving agents off lost nodes, buying a node past the threshold.",
    responses: { 200: anyJson, ...errorResponses },
  }),
  drain: createRoute({
    method: "post",
    path: "/admin/nodes/{id}/drain",
    tags: ["admin"],
    middleware: admin,
    request: { params: z.object({ id: z.string().min(1).max(64) }) },
    responses: { 200: anyJson, ...errorResponses },
  }),
  cancelOrder: createRoute({
    method: "post",
    path: "/admin/fleet/orders/{id}/cancel",
    tags: ["admin"],
    middleware: admin,
    description: "Closes an open node order (e.g. the VPS never came up), so the scheduler may order again.",
    request: { params: z.object({ id: z.string().min(1).max(64) }) },
    responses: { 200: json(z.object({ ok: z.literal(true) })), ...errorResponses },
  }),
  catalog: createRoute({
    method: "get",
    path: "/admin/catalog",
    tags: ["admin"],
    middleware: admin,
    description: "The live model catalog (models, tiers, wholesale prices with source and date, per-plan markup) and its version history.",
    responses: { 200: anyJson, ...errorResponses },
  }),
  publishCatalog: createRoute({
    method: "put",
    path: "/admin/catalog",
    tags: ["admin"],
    middleware: admin,
    description: "Publishes an edited catalog as the next version (validated). Edges pick it up within seconds; no deploy.",
    request: {
      body: {
        content: {
          "application/json": {
            schema: z.object({
              note: z.string().max(500).optional(),
              models: z.array(z.record(z.string(), z.unknown())),
              markupBps: z.record(z.string(), z.number()),
            }),
          },
        },
      },
    },
    responses: { 200: anyJson, ...errorResponses },
  }),
  grants: createRoute({
    method: "get",
    path: "/admin/grants",
    tags: ["admin"],
    middleware: admin,
    responses: {
      200: json(
        z.object({
          grants: z.array(
            z.object({ userId: z.string(), email: z.string(), note: z.string().nullable(), grantedBy: z.string().nullable(), createdAt: z.string() }),
          ),
        }),
      ),
      ...errorResponses,
    },
  }),
  grant: createRoute({
    method: "post",
    path: "/admin/grants",
    tags: ["admin"],
    middleware: admin,
    description: "Lets an account run an agent without a plan (by user id or email), until revoked.",
    request: body(
      z
        .object({ userId: z.string().min(1).max(64).optional(), email: z.string().max(320).optional(), note: z.string().max(200).optional() })
        .refine((b) => b.userId || b.email, "userId or email is required"),
    ),
    responses: { 200: json(z.object({ userId: z.string(), email: z.string() })), ...errorResponses },
  }),
  revokeGrant: createRoute({
    method: "delete",
    path: "/admin/grants/{userId}",
    tags: ["admin"],
    middleware: admin,
    description: "Revokes a grant. Without a plan the account's agent is put to sleep and not woken again.",
    request: { params: z.object({ userId: z.string().min(1).max(64) }) },
    responses: { 200: json(ok), ...errorResponses },
  }),
};

export function registerAdminRoutes(app: App) {
  app.openapi(routes.catalog, async (c) => c.json((await catalogVersions(c.get("services").db)) as unknown as Record<string, unknown>, 200));
  app.openapi(routes.publishCatalog, async (c) =>
    c.json((await publishCatalog(c.get("services").db, c.req.valid("json"), c.get("user").email)) as unknown as Record<string, unknown>, 200),
  );
  app.openapi(routes.overview, async (c) => c.json(await operatorOverview(c.get("services")), 200));
  app.openapi(routes.check, async (c) => c.json((await checkFleet(c.get("services"))) as unknown as Record<string, unknown>, 200));
  app.openapi(routes.cancelOrder, async (c) => {
    await fleetScheduler(c.get("services").env).orderFailed(c.req.valid("param").id, "cancelled by an operator");
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.drain, async (c) => c.json((await drainNode(c.get("services"), c.req.valid("param").id)) as unknown as Record<string, unknown>, 200));
  app.openapi(routes.grants, async (c) => c.json({ grants: await listGrants(c.get("services")) }, 200));
  app.openapi(routes.grant, async (c) => {
    const { userId, email, note } = c.req.valid("json");
    return c.json(await grantAccess(c.get("services"), c.get("user").id, { userId, email }, note, c.get("meta")), 200);
  });
  app.openapi(routes.revokeGrant, async (c) => {
    await revokeGrant(c.get("services"), c.get("user").id, c.req.valid("param").userId, c.get("meta"));
    return c.json({ ok: true as const }, 200);
  });
}
