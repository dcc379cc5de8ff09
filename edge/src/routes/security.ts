import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import { rateLimitUser } from "../middleware/rate-limit";
import * as apiKeys from "../services/api-keys";
import { listSessions, revokeSession } from "../services/sessions";
import { requestAccountDeletion } from "../services/account-deletion";
import { exportAccount } from "../services/account-export";
import { clearSessionCookie } from "../lib/cookies";
import * as twoFactor from "../services/two-factor";
import { body, json, ok } from "./schemas";

/** Security Center: sessions, two-factor authentication and personal API keys of the signed-in user. */
const auth = [requireUser()];
const idParam = z.object({ id: z.string().min(1).max(64) });

const sessionSchema = z
  .object({ id: z.string(), ip: z.string().nullable(), userAgent: z.string().nullable(), createdAt: z.string(), lastSeenAt: z.string(), current: z.boolean() })
  .openapi("Session");

const routes = {
  listSessions: createRoute({
    method: "get",
    path: "/account/sessions",
    tags: ["security"],
    middleware: auth,
    responses: { 200: json(z.object({ sessions: z.array(sessionSchema) })), ...errorResponses },
  }),
  revokeSession: createRoute({
    method: "delete",
    path: "/account/sessions/{id}",
    tags: ["security"],
    middleware: auth,
    request: { params: idParam },
    responses: { 200: json(ok), 404: errorResponses[400], ...errorResponses },
  }),
  setup2fa: createRoute({
    method: "post",
    path: "/account/2fa/setup",
    tags: ["security"],
    middleware: auth,
    responses: { 200: json(z.object({ secret: z.string(), uri: z.string() })), ...errorResponses },
  }),
  enable2fa: createRoute({
    method: "post",
    path: "/account/2fa/enable",
    tags: ["security"],
    middleware: [...auth, rateLimitUser("2fa-change")],
    request: body(z.object({ code: z.string().regex(/^\d{6}$/, "must be the 6-digit code") })),
    responses: { 200: json(z.object({ recoveryCodes: z.array(z.string()) })), ...errorResponses },
  }),
  disable2fa: createRoute({
    method: "post",
    path: "/account/2fa/disable",
    tags: ["security"],
    middleware: [...auth, rateLimitUser("2fa-change")],
    request: body(z.object({ password: z.string().max(200).optional(), code: z.string().min(6).max(40) })),
    responses: { 200: json(ok), ...errorResponses },
  }),
  listKeys: createRoute({
    method: "get",
    path: "/account/api-keys",
    tags: ["security"],
    middleware: auth,
    responses: {
      200: json(
        z.object({
          keys: z.array(z.object({ id: z.string(), name: z.string(), prefix: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable() })),
        }),
      ),
      ...errorResponses,
    },
  }),
  createKey: createRoute({
    method: "post",
    path: "/account/api-keys",
    tags: ["security"],
    middleware: auth,
    request: body(z.object({ name: z.string().trim().min(1).max(80) })),
    responses: {
      201: json(z.object({ id: z.string(), name: z.string(), prefix: z.string(), key: z.string() }), "Created; the key is shown only now"),
      ...errorResponses,
    },
  }),
  revokeKey: createRoute({
    method: "delete",
    path: "/account/api-keys/{id}",
    tags: ["security"],
    middleware: auth,
    request: { params: idParam },
    responses: { 200: json(ok), 404: errorResponses[400], ...errorResponses },
  }),
  deleteAccount: createRoute({
    method: "post",
    path: "/account/delete",
    tags: ["security"],
    middleware: auth,
    description:
      "Deletes the account for good: the agent (container and archives), channels, keys, sessions, memories, conversations and files. Confirm with the password (accounts without one: within 15 minutes of signing in). Only anonymous accounting records stay.",
    request: body(z.object({ password: z.string().max(200).optional() })),
    responses: { 200: json(z.object({ deleted: z.literal(true) })), ...errorResponses },
  }),
  exportData: createRoute({
    method: "get",
    path: "/account/export",
    tags: ["security"],
    middleware: auth,
    description: "A zip of the account's data: account.json, memories.json, conversations.json and the agent's files under files/.",
    responses: { 200: { description: "application/zip", content: { "application/zip": { schema: z.string() } } }, ...errorResponses },
  }),
};

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function registerSecurityRoutes(app: App) {
  app.openapi(routes.listSessions, async (c) => {
    const rows = await listSessions(c.get("services"), c.get("user").id);
    const current = c.get("sessionId");
    return c.json(
      {
        sessions: rows.map((r) => ({
          ...r,
          createdAt: r.createdAt.toISOString(),
          lastSeenAt: r.lastSeenAt.toISOString(),
          expiresAt: undefined,
          current: r.id === current,
        })),
      },
      200,
    );
  });
  app.openapi(routes.revokeSession, async (c) => {
    await revokeSession(c.get("services"), c.get("user").id, c.req.valid("param").id);
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.setup2fa, async (c) => c.json(await twoFactor.setupTotp(c.get("services"), c.get("user").id), 200));
  app.openapi(routes.enable2fa, async (c) =>
    c.json(await twoFactor.enableTotp(c.get("services"), c.get("user").id, c.req.valid("json").code, c.get("meta"), c.get("sessionId")), 200),
  );
  app.openapi(routes.disable2fa, async (c) => {
    await twoFactor.disableTotp(c.get("services"), c.get("user").id, c.req.valid("json"), c.get("meta"), c.get("sessionId"));
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.listKeys, async (c) => {
    const keys = await apiKeys.listApiKeys(c.get("services"), c.get("user").id);
    return c.json({ keys: keys.map((k) => ({ ...k, createdAt: k.createdAt.toISOString(), lastUsedAt: iso(k.lastUsedAt) })) }, 200);
  });
  app.openapi(routes.createKey, async (c) =>
    c.json(await apiKeys.createApiKey(c.get("services"), c.get("user").id, c.req.valid("json").name, c.get("meta")), 201),
  );
  app.openapi(routes.revokeKey, async (c) => {
    await apiKeys.revokeApiKey(c.get("services"), c.get("user").id, c.req.valid("param").id, c.get("meta"));
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.deleteAccount, async (c) => {
    const s = c.get("services");
    await requestAccountDeletion(s, c.get("user").id, c.get("sessionId"), c.req.valid("json").password, c.get("meta"));
    clearSessionCookie(c, s.env);
    return c.json({ deleted: true as const }, 200);
  });
  app.openapi(routes.exportData, async (c) => {
    const stream = await exportAccount(c.get("services"), c.get("user").id);
    const day = new Date().toISOString().slice(0, 10);
    return new Response(stream, {
      status: 200,
      headers: { "content-type": "application/zip", "content-disposition": `attachment; filename="openclaw-cloud-export-${day}.zip"` },
    }) as never;
  });
}
