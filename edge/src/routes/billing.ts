import { createRoute, z } from "@hono/zod-openapi";
import { PLANS, TOKEN_PACKS } from "@oc/contracts/plans";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import { billingOverview, updateAutoTopUp } from "../services/billing/overview";
import { cancelSubscription, changePlan, listInvoices, openPortal, startPackCheckout, startPlanCheckout } from "../services/billing/checkout";
import { handleStripeEvent, verifyStripeEvent } from "../services/billing/webhooks";
import { body, json } from "./schemas";

/** Billing: plans and packs (public), Checkout, the customer portal, plan changes, auto top-up, and Stripe's webhook. */
const auth = [requireUser()];
const redirect = json(z.object({ id: z.string().optional(), url: z.string() }));

const routes = {
  plans: createRoute({
    method: "get",
    path: "/billing/plans",
    tags: ["billing"],
    responses: {
      200: json(
        z.object({
          plans: z.array(
            z.object({
              id: z.string(),
              name: z.string(),
              priceCents: z.number(),
              ramMb: z.number(),
              includedMicros: z.number(),
              markupBps: z.number(),
              skillsLimit: z.number(),
              features: z.array(z.string()),
            }),
          ),
          packs: z.array(z.object({ id: z.string(), name: z.string(), priceCents: z.number(), creditMicros: z.number() })),
        }),
      ),
    },
  }),
  overview: createRoute({
    method: "get",
    path: "/billing",
    tags: ["billing"],
    middleware: auth,
    responses: { 200: json(z.record(z.string(), z.unknown())), ...errorResponses },
  }),
  checkout: createRoute({
    method: "post",
    path: "/billing/checkout",
    tags: ["billing"],
    middleware: auth,
    description: "Stripe Checkout for a monthly plan. After payment the agent starts by itself.",
    request: body(z.object({ plan: z.string().min(1).max(40) })),
    responses: { 200: redirect, ...errorResponses },
  }),
  pack: createRoute({
    method: "post",
    path: "/billing/packs/checkout",
    tags: ["billing"],
    middleware: auth,
    request: body(z.object({ pack: z.string().min(1).max(40) })),
    responses: { 200: redirect, ...errorResponses },
  }),
  portal: createRoute({ method: "post", path: "/billing/portal", tags: ["billing"], middleware: auth, responses: { 200: redirect, ...errorResponses } }),
  invoices: createRoute({
    method: "get",
    path: "/billing/invoices",
    tags: ["billing"],
    middleware: auth,
    responses: {
      200: json(
        z.object({
          invoices: z.array(
            z.object({
              id: z.string(),
              number: z.string().nullable(),
              amountCents: z.number(),
              currency: z.string(),
              status: z.string(),
              createdAt: z.string(),
              url: z.string().nullable(),
            }),
          ),
        }),
      ),
      ...errorResponses,
    },
  }),
  changePlan: createRoute({
    method: "post",
    path: "/billing/plan",
    tags: ["billing"],
    middleware: auth,
    description: "Upgrade or downgrade; the difference is prorated and invoiced now.",
    request: body(z.object({ plan: z.string().min(1).max(40) })),
    responses: { 200: json(z.object({ planId: z.string(), previousPlanId: z.string() })), ...errorResponses },
  }),
  cancel: createRoute({
    method: "post",
    path: "/billing/cancel",
    tags: ["billing"],
    middleware: auth,
    description: "Cancels at the end of the paid period; the agent then sleeps and its data is kept for the grace period.",
    responses: { 200: json(z.object({ endsAt: z.string() })), ...errorResponses },
  }),
  autoTopUp: createRoute({
    method: "put",
    path: "/billing/auto-top-up",
    tags: ["billing"],
    middleware: auth,
    request: body(
      z.object({
        enabled: z.boolean(),
        thresholdMicros: z.number().int().min(100_000).max(1_000_000_000),
        pack: z.enum(TOKEN_PACKS.map((p) => p.id) as [string, ...string[]]),
      }),
    ),
    responses: { 200: json(z.object({ enabled: z.boolean(), threshold: z.number(), packId: z.string() })), ...errorResponses },
  }),
  webhook: createRoute({
    method: "post",
    path: "/webhooks/stripe",
    tags: ["billing"],
    description: "Stripe's webhook. Verified with the Stripe-Signature header over the raw body; each event applies once.",
    responses: { 200: json(z.object({ received: z.literal(true), outcome: z.string(), duplicate: z.boolean() })), ...errorResponses },
  }),
};

export function registerBillingRoutes(app: App) {
  app.openapi(routes.plans, (c) => c.json({ plans: [...PLANS], packs: [...TOKEN_PACKS] }, 200));
  app.openapi(routes.overview, async (c) => c.json(await billingOverview(c.get("services"), c.get("user").id), 200));
  app.openapi(routes.checkout, async (c) => c.json(await startPlanCheckout(c.get("services"), c.get("user").id, c.req.valid("json").plan), 200));
  app.openapi(routes.pack, async (c) => c.json(await startPackCheckout(c.get("services"), c.get("user").id, c.req.valid("json").pack), 200));
  app.openapi(routes.portal, async (c) => c.json(await openPortal(c.get("services"), c.get("user").id), 200));
  app.openapi(routes.invoices, async (c) => c.json({ invoices: await listInvoices(c.get("services"), c.get("user").id) }, 200));
  app.openapi(routes.changePlan, async (c) => c.json(await changePlan(c.get("services"), c.get("user").id, c.req.valid("json").plan), 200));
  app.openapi(routes.cancel, async (c) => c.json(await cancelSubscription(c.get("services"), c.get("user").id), 200));
  app.openapi(routes.autoTopUp, async (c) => {
    const { enabled, thresholdMicros, pack } = c.req.valid("json");
    return c.json(await updateAutoTopUp(c.get("services"), c.get("user").id, { enabled, threshold: thresholdMicros, packId: pack }), 200);
  });
  app.openapi(routes.webhook, async (c) => {
    const s = c.get("services");
    const event = await verifyStripeEvent(s, await c.req.text(), c.req.header("stripe-signature"));
    return c.json({ received: true as const, ...(await handleStripeEvent(s, event)) }, 200);
  });
}
