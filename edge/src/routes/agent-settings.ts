import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "@oc/contracts/errors";
import { isTimeZone } from "@oc/contracts/time";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import { setSleepSettings } from "../services/agent-controls";
import { body, json } from "./schemas";
import { userAgent } from "../clients/user-agent";

/** Token Protection and sleep settings, kept in the user's Durable Object (where every call is checked). */
const auth = [requireUser()];
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be HH:MM");
const micros = z.number().int().min(0).max(1_000_000_000);
const protection = z.object({
  perMessageBudget: z.object({ simple: micros, standard: micros, complex: micros, reasoning: micros }),
  loop: z.object({
    maxRepeats: z.number().int().min(2).max(100),
    windowSec: z.number().int().min(10).max(3600),
    maxCallsPerMessage: z.number().int().min(1).max(1000),
  }),
  quietHours: z.object({ enabled: z.boolean(), start: hhmm, end: hhmm }),
  timezone: z.string().min(1).max(64),
  dailyCap: micros.nullable(),
  monthlyCap: micros.nullable(),
  backgroundMaxCalls: z.number().int().min(1).max(100),
  autoTopUp: z.object({ enabled: z.boolean(), threshold: z.number(), packId: z.string().optional() }),
});

const routes = {
  get: createRoute({ method: "get", path: "/agent/protection", tags: ["agent"], middleware: auth, responses: { 200: json(protection), ...errorResponses } }),
  put: createRoute({
    method: "put",
    path: "/agent/protection",
    tags: ["agent"],
    middleware: auth,
    description: "Updates token protection (any subset). Auto top-up is set through PUT /billing/auto-top-up.",
    request: body(protection.omit({ autoTopUp: true }).partial()),
    responses: { 200: json(protection), ...errorResponses },
  }),
  idle: createRoute({
    method: "put",
    path: "/agent/idle",
    tags: ["agent"],
    middleware: auth,
    description: "Minutes without use before the agent dozes (wakes in under a second), and minutes dozing before it sleeps deeply (0: at once).",
    request: body(
      z.object({
        idleMinutes: z
          .number()
          .int()
          .min(1)
          .max(7 * 24 * 60),
        deepSleepMinutes: z
          .number()
          .int()
          .min(0)
          .max(7 * 24 * 60),
        alwaysOn: z.boolean().default(false),
      }),
    ),
    responses: { 200: json(z.object({ idleMinutes: z.number(), deepSleepMinutes: z.number(), alwaysOn: z.boolean() })), ...errorResponses },
  }),
};

export function registerAgentSettingsRoutes(app: App) {
  app.openapi(routes.get, async (c) => c.json(await userAgent(c.get("services").env, c.get("user").id).getProtection(), 200));
  app.openapi(routes.put, async (c) => {
    const patch = c.req.valid("json");
    if (patch.timezone && !isTimeZone(patch.timezone))
      throw new AppError("VALIDATION_FAILED", `Unknown time zone "${patch.timezone}": use an IANA name such as Europe/Paris.`);
    return c.json(await userAgent(c.get("services").env, c.get("user").id).updateProtection(patch), 200);
  });
  app.openapi(routes.idle, async (c) => {
    return c.json(await setSleepSettings(c.get("services"), c.get("user").id, c.req.valid("json")), 200);
  });
}
