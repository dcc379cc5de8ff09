import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "@oc/contracts/errors";
import type { App } from "../app";
import { listOutbox } from "../services/email";
import { pingDatabase } from "../services/health";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import { createMiddleware } from "hono/factory";
import type { HonoEnv } from "../hono-env";
import { body, json } from "./schemas";
import { userAgent } from "../clients/user-agent";

/**
 * The dev routes answer only on a local development or test Worker: the explicit flag, and never production
 * (which also refuses the flag at startup). Anywhere else they do not exist, checked before anything else.
 */
const devOnly = () =>
  createMiddleware<HonoEnv>(async (c, next) => {
    const { env } = c.get("services");
    if (env.DEV_MODE !== "local" || env.ENVIRONMENT === "production") throw new AppError("NOT_FOUND", "No such API route.");
    await next();
  });

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  tags: ["system"],
  responses: { 200: json(z.object({ ok: z.literal(true), database: z.enum(["up"]), environment: z.string() })), ...errorResponses },
});

const outboxRoute = createRoute({
  method: "get",
  path: "/dev/outbox",
  tags: ["system"],
  middleware: [devOnly()],
  description: "Local development only (DEV_MODE=local): the mails the platform sent or would have sent. Absent (404) anywhere else.",
  responses: {
    200: json(
      z.object({
        emails: z.array(z.object({ id: z.string(), to: z.string(), subject: z.string(), text: z.string(), status: z.string(), createdAt: z.string() })),
      }),
    ),
    ...errorResponses,
  },
});

const devCreditRoute = createRoute({
  method: "post",
  path: "/dev/credit",
  tags: ["system"],
  middleware: [devOnly(), requireUser()],
  description: "Local development only (DEV_MODE=local): adds test balance to the signed-in user. Absent (404) anywhere else.",
  request: body(z.object({ amountMicros: z.number().int().min(1).max(100_000_000) })),
  responses: { 200: json(z.object({ balance: z.number().int() })), ...errorResponses },
});

export function registerSystemRoutes(app: App) {
  app.openapi(devCreditRoute, async (c) => {
    const s = c.get("services");
    const { balance } = await userAgent(s.env, c.get("user").id).credit(c.req.valid("json").amountMicros, "dev", crypto.randomUUID());
    return c.json({ balance }, 200);
  });

  app.openapi(healthRoute, async (c) => {
    const s = c.get("services");
    await pingDatabase(s.db);
    return c.json({ ok: true as const, database: "up" as const, environment: s.env.ENVIRONMENT }, 200);
  });

  app.openapi(outboxRoute, async (c) => {
    const s = c.get("services");
    const rows = await listOutbox(s.db);
    return c.json(
      { emails: rows.map((r) => ({ id: r.id, to: r.to, subject: r.subject, text: r.text, status: r.status, createdAt: r.createdAt.toISOString() })) },
      200,
    );
  });
}
