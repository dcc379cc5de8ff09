import { and, eq, inArray, isNull } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { packById, planById, PLANS } from "@oc/contracts/plans";
import { subscriptions, users } from "@oc/db/schema";
import type { Services } from "../context";
import { planForPrice, priceIdFor, stripeFor } from "./stripe";

/** The user's Stripe customer, created once (the idempotency key makes a retried creation return the same one). */
export async function ensureCustomer(s: Services, userId: string): Promise<string> {
  const [u] = await s.db.select({ email: users.email, customer: users.stripeCustomerId }).from(users).where(eq(users.id, userId));
  if (!u) throw new AppError("NOT_FOUND", "No such user.");
  if (u.customer) return u.customer;
  const customer = await stripeFor(s.env).customers.create({ email: u.email, metadata: { userId } }, { idempotencyKey: `customer:${userId}` });
  await s.db
    .update(users)
    .set({ stripeCustomerId: customer.id, updatedAt: new Date() })
    .where(and(eq(users.id, userId), isNull(users.stripeCustomerId)));
  return customer.id;
}

export async function currentSubscription(s: Services, userId: string) {
  const [sub] = await s.db.select().from(subscriptions).where(eq(subscriptions.userId, userId));
  return sub;
}

// A paid plan starts the agent, so the customer comes back to the Control Center to watch it come up;
// a token pack (or a cancelled checkout) returns to the billing page it was started from.
const returnUrls = (s: Services, what: string, successPath = "/dashboard/billing") => ({
  success_url: `${s.env.APP_URL}${successPath}?${what}=success`,
  cancel_url: `${s.env.APP_URL}/dashboard/billing?${what}=cancelled`,
});

/** Stripe Checkout for a monthly plan. The paid checkout's webhook credits tokens and starts the agent. */
export async function startPlanCheckout(s: Services, userId: string, planId: string) {
  const plan = planById(planId);
  if (!plan) throw new AppError("VALIDATION_FAILED", `Unknown plan "${planId}". Choose one of: ${PLANS.map((p) => p.id).join(", ")}.`);
  const sub = await currentSubscription(s, userId);
  if (sub && (sub.status === "active" || sub.status === "past_due"))
    throw new AppError("CONFLICT", "You already have a subscription. Change your plan from the billing page instead.");
  const customer = await ensureCustomer(s, userId);
  const session = await stripeFor(s.env).checkout.sessions.create({
    mode: "subscription",
    customer,
    client_reference_id: userId,
    line_items: [{ price: priceIdFor(s.env, plan), quantity: 1 }],
    metadata: { userId, planId: plan.id },
    subscription_data: { metadata: { userId, planId: plan.id } },
    ...returnUrls(s, "checkout", "/dashboard"),
  });
  return { id: session.id, url: session.url! };
}

/** Stripe Checkout for a one-off token pack; the card is saved for auto top-up. */
export async function startPackCheckout(s: Services, userId: string, packId: string) {
  const pack = packById(packId);
  if (!pack) throw new AppError("VALIDATION_FAILED", `Unknown token pack "${packId}".`);
  const customer = await ensureCustomer(s, userId);
  const metadata = { userId, packId: pack.id, kind: "pack" };
  const session = await stripeFor(s.env).checkout.sessions.create({
    mode: "payment",
    customer,
    client_reference_id: userId,
    line_items: [{ price_data: { currency: "usd", unit_amount: pack.priceCents, product_data: { name: pack.name } }, quantity: 1 }],
    metadata,
    payment_intent_data: { setup_future_usage: "off_session", metadata },
    ...returnUrls(s, "pack"),
  });
  return { id: session.id, url: session.url! };
}

export async function openPortal(s: Services, userId: string) {
  const [u] = await s.db.select({ customer: users.stripeCustomerId }).from(users).where(eq(users.id, userId));
  if (!u?.customer) throw new AppError("NOT_FOUND", "You have no billing account yet. Choose a plan first.");
  const portal = await stripeFor(s.env).billingPortal.sessions.create({ customer: u.customer, return_url: `${s.env.APP_URL}/dashboard/billing` });
  return { url: portal.url };
}

export async function listInvoices(s: Services, userId: string) {
  const [u] = await s.db.select({ customer: users.stripeCustomerId }).from(users).where(eq(users.id, userId));
  if (!u?.customer) return [];
  const list = await stripeFor(s.env).invoices.list({ customer: u.customer, limit: 24 });
  return list.data.map((i) => ({
    id: i.id!,
    number: i.number ?? null,
    amountCents: i.amount_paid,
    currency: i.currency,
    status: i.status ?? "draft",
    createdAt: new Date(i.created * 1000).toISOString(),
    url: i.hosted_invoice_url ?? null,
  }));
}

async function activeStripeSubscription(s: Services, userId: string) {
  const [sub] = await s.db
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.userId, userId), inArray(subscriptions.status, ["active", "past_due"])));
  if (!sub?.stripeSubscriptionId) throw new AppError("NOT_FOUND", "You have no active subscription.");
  return sub;
}

/** Upgrade or downgrade: Stripe prorates and invoices the difference now; the webhook confirms the change. */
export async function changePlan(s: Services, userId: string, planId: string) {
  const plan = planById(planId);
  if (!plan) throw new AppError("VALIDATION_FAILED", `Unknown plan "${planId}".`);
  const sub = await activeStripeSubscription(s, userId);
  if (sub.planId === plan.id) throw new AppError("CONFLICT", `You are already on ${plan.name}.`);
  const stripe = stripeFor(s.env);
  const remote = await stripe.subscriptions.retrieve(sub.stripeSubscriptionId!);
  const item = remote.items.data[0];
  if (!item) throw new AppError("INTERNAL", "The subscription has no item to change.");
  await stripe.subscriptions.update(sub.stripeSubscriptionId!, {
    items: [{ id: item.id, price: priceIdFor(s.env, plan) }],
    proration_behavior: "always_invoice",
    metadata: { userId, planId: plan.id },
  });
  return { planId: plan.id, previousPlanId: planForPrice(s.env, item.price.id)?.id ?? sub.planId };
}

/** Cancels at the end of the paid period: the agent sleeps then, and its data is kept for the grace period. */
export async function cancelSubscription(s: Services, userId: string) {
  const sub = await activeStripeSubscription(s, userId);
  await stripeFor(s.env).subscriptions.update(sub.stripeSubscriptionId!, { cancel_at_period_end: true });
  await s.db
    .update(subscriptions)
    .set({ cancelAtPeriodEnd: sub.currentPeriodEnd ?? new Date(), updatedAt: new Date() })
    .where(eq(subscriptions.id, sub.id));
  return { endsAt: (sub.currentPeriodEnd ?? new Date()).toISOString() };
}
