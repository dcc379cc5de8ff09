import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import { referralSummary, usageSummary } from "../services/usage";
import { json } from "./schemas";

/** Token Analytics and the Referral System page. */
const auth = [requireUser()];
const sums = { spentMicros: z.number(), inputTokens: z.number(), outputTokens: z.number(), calls: z.number() };

const routes = {
  usage: createRoute({
    method: "get",
    path: "/usage",
    tags: ["usage"],
    middleware: auth,
    request: { query: z.object({ days: z.coerce.number().int().min(1).max(90).default(30) }) },
    responses: {
      200: json(
        z.object({
          days: z.number(),
          balance: z.object({ balance: z.number(), reserved: z.number(), available: z.number() }),
          totals: z.object({ spentMicros: z.number(), calls: z.number(), tokens: z.number() }),
          byDay: z.array(z.object({ day: z.string(), ...sums })),
          byModel: z.array(z.object({ model: z.string(), ...sums })),
          byTier: z.array(z.object({ tier: z.string(), ...sums })),
          recent: z.array(
            z.object({
              at: z.string(),
              model: z.string(),
              tier: z.string().nullable(),
              reason: z.string().nullable(),
              priceMicros: z.number(),
              inputTokens: z.number(),
              outputTokens: z.number(),
              background: z.string(),
            }),
          ),
        }),
      ),
      ...errorResponses,
    },
  }),
  referrals: createRoute({
    method: "get",
    path: "/referrals",
    tags: ["usage"],
    middleware: auth,
    responses: {
      200: json(
        z.object({
          link: z.string(),
          earnedMicros: z.number(),
          referred: z.array(z.object({ who: z.string(), joinedAt: z.string(), creditedMicros: z.number().nullable() })),
        }),
      ),
      ...errorResponses,
    },
  }),
};

export function registerInsightRoutes(app: App) {
  app.openapi(routes.usage, async (c) => c.json(await usageSummary(c.get("services"), c.get("user").id, c.req.valid("query").days), 200));
  app.openapi(routes.referrals, async (c) => c.json(await referralSummary(c.get("services"), c.get("user").id), 200));
}
