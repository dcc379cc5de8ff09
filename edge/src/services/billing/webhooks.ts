import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { AppError } from "@oc/contracts/errors";
import { GRACE_DAYS, packById, planById, type Plan } from "@oc/contracts/plans";
import { ledgerEntries, referrals, stripeEvents, subscriptions, users } from "@oc/db/schema";
import { newId } from "@oc/contracts/ids";
import type { Services } from "../context";
import { planForPrice, stripeFor, webCrypto } from "./stripe";
import { userAgent } from "../../clients/user-agent";
import { loadEnv } from "../../env";
import { buildServices } from "../build";
import { paidAccess, suspendService } from "../entitlement";
import { startAgentAfterPayment } from "../agent-config";
import { billingMail } from "./mail";
import { referralFor } from "./referrals";

/** Stripe signs with a timestamp; older deliveries are refused (Stripe's own default window). */
export const SIGNATURE_TOLERANCE_S = 300;

/** Checks the Stripe-Signature header over the raw body with the SDK's helper (Web Crypto on Workers). */
export async function verifyStripeEvent(s: Services, rawBody: string, signature: string | undefined): Promise<Stripe.Event> {
  if (!s.env.STRIPE_WEBHOOK_SECRET) throw new AppError("BILLING_UNAVAILABLE", "Stripe webhooks are not configured.");
  if (!signature) throw new AppError("INVALID_SIGNATURE", "Missing Stripe-Signature header.");
  try {
    return await stripeFor(s.env).webhooks.constructEventAsync(rawBody, signature, s.env.STRIPE_WEBHOOK_SECRET, SIGNATURE_TOLERANCE_S, webCrypto);
  } catch (e) {
    throw new AppError("INVALID_SIGNATURE", `Webhook signature check failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

type LedgerKind = (typeof ledgerEntries.$inferInsert)["kind"];
interface Credit {
  userId: string;
  amount: number;
  kind: LedgerKind;
  source: string;
  sourceId: string;
}

/** What one event does, worked out before anything is written. */
interface Effects {
  userId: string | null;
  outcome: string;
  credits: Credit[];
  subscription?: Omit<typeof subscriptions.$inferInsert, "id">;
  referral?: { referrerId: string; referredId: string; amount: number };
  /** Done once, after the event is recorded and answered: mails, provisioning, the agent's markup or sleep. */
  after: FollowUp[];
}

/**
 * Applies a verified event exactly once. Credits go to the user's Durable Object first (each keyed by its
 * Stripe object, so a retry cannot add twice); then one Postgres transaction records the event id (primary
 * key), the ledger rows (unique per source) and the subscription mirror. If that transaction fails Stripe
 * retries, the Durable Object ignores the repeated credit, and the transaction is tried again. An event
 * already recorded is answered as a duplicate and changes nothing.
 *
 * The follow-ups (mails, starting the agent, the plan's markup, suspension) do not run here: they are written
 * to the user's Durable Object as jobs before the transaction (held, one per event and step), released once
 * the event is recorded, and run by the object's alarm after Stripe has its 200, retried with backoff until
 * they succeed. A crash between the transaction and the release is repaired by Stripe's retry, which finds
 * the event recorded and releases the jobs again (releasing twice, or a job already done, changes nothing).
 */
export async function handleStripeEvent(s: Services, event: Stripe.Event): Promise<{ outcome: string; duplicate: boolean }> {
  const [seen] = await s.db.select({ outcome: stripeEvents.outcome, userId: stripeEvents.userId }).from(stripeEvents).where(eq(stripeEvents.id, event.id));
  if (seen) {
    if (seen.userId) await userAgent(s.env, seen.userId).releaseJobs(event.id);
    return { outcome: seen.outcome, duplicate: true };
  }
  const fx = await effectsOf(s, event);
  for (const c of fx.credits) await userAgent(s.env, c.userId).credit(c.amount, c.source, c.sourceId);
  if (fx.userId && fx.after.length > 0)
    await userAgent(s.env, fx.userId).enqueueJobs(
      event.id,
      fx.after.map((f) => ({ id: `${event.id}:${f.kind}`, kind: `${JOB_KIND_PREFIX}${f.kind}`, payload: f })),
    );
  const recorded = await s.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(stripeEvents)
      .values({ id: event.id, type: event.type, userId: fx.userId, outcome: fx.outcome })
      .onConflictDoNothing()
      .returning({ id: stripeEvents.id });
    if (!row) return false; // a concurrent delivery of the same event won
    for (const c of fx.credits)
      await tx
        .insert(ledgerEntries)
        .values({ id: newId("led"), userId: c.userId, kind: c.kind, amountMicros: c.amount, source: c.source, sourceId: c.sourceId })
        .onConflictDoNothing();
    if (fx.referral)
      await tx
        .insert(referrals)
        .values({
          id: newId("ref"),
          referrerId: fx.referral.referrerId,
          referredId: fx.referral.referredId,
          creditedMicros: fx.referral.amount,
          creditedAt: new Date(),
        })
        .onConflictDoUpdate({
          target: referrals.referredId,
          set: { creditedMicros: fx.referral.amount, creditedAt: new Date() },
          where: sql`${referrals.creditedAt} IS NULL`,
        });
    if (fx.subscription) {
      const eventAt = new Date(event.created * 1000);
      // A late, older event must not undo a newer state (Stripe does not guarantee order).
      await tx
        .insert(subscriptions)
        .values({ id: newId("sub"), ...fx.subscription, stripeEventAt: eventAt })
        .onConflictDoUpdate({
          target: subscriptions.userId,
          set: { ...fx.subscription, stripeEventAt: eventAt, updatedAt: new Date() },
          where: sql`${subscriptions.stripeEventAt} IS NULL OR ${subscriptions.stripeEventAt} <= ${eventAt.toISOString()}`,
        });
    }
    return true;
  });
  if (!recorded) return { outcome: fx.outcome, duplicate: true };
  if (fx.userId && fx.after.length > 0) await userAgent(s.env, fx.userId).releaseJobs(event.id);
  if (fx.outcome.startsWith("ignored")) console.warn(`[stripe] ${event.type} ${event.id}: ${fx.outcome}`);
  return { outcome: fx.outcome, duplicate: false };
}

async function userFor(s: Services, metadataUserId: string | undefined, customer: string | Stripe.Customer | Stripe.DeletedCustomer | null | undefined) {
  const customerId = typeof customer === "string" ? customer : customer?.id;
  const where = metadataUserId ? eq(users.id, metadataUserId) : customerId ? eq(users.stripeCustomerId, customerId) : undefined;
  if (!where) return undefined;
  const [u] = await s.db.select({ id: users.id, email: users.email, referredBy: users.referredBy, customer: users.stripeCustomerId }).from(users).where(where);
  // A metadata user id must belong to the paying customer: forged metadata credits nobody.
  if (u && customerId && u.customer && u.customer !== customerId) return undefined;
  return u;
}

/** A referral the payment earns (referrals.ts), credited to the referrer with the payment's own credits. */
async function withReferral(s: Services, user: { id: string; email: string; referredBy: string | null }, paidCents: number, credits: Credit[]) {
  const referral = await referralFor(s, user, paidCents);
  if (referral) credits.push({ userId: referral.referrerId, amount: referral.amount, kind: "credit_referral", source: "referral", sourceId: user.id });
  return referral;
}

const none = (outcome: string, userId: string | null = null): Effects => ({ userId, outcome, credits: [], after: [] });

async function effectsOf(s: Services, event: Stripe.Event): Promise<Effects> {
  switch (event.type) {
    case "checkout.session.completed":
      return checkoutCompleted(s, event.data.object);
    case "invoice.paid":
      return invoicePaid(s, event.data.object);
    case "customer.subscription.created":
    case "customer.subscription.updated":
    case "customer.subscription.deleted":
      return subscriptionChanged(s, event.data.object, event.type === "customer.subscription.deleted");
    case "payment_intent.succeeded":
    case "payment_intent.payment_failed":
      return topUpResult(s, event.data.object, event.type === "payment_intent.succeeded");
    default:
      return none(`ignored: ${event.type} is not used`);
  }
}

async function checkoutCompleted(s: Services, session: Stripe.Checkout.Session): Promise<Effects> {
  const user = await userFor(s, session.metadata?.userId ?? session.client_reference_id ?? undefined, session.customer);
  if (!user) return none("ignored: unknown customer");
  if (session.mode === "payment") {
    const pack = packById(session.metadata?.packId ?? "");
    if (!pack) return none(`ignored: unknown token pack ${session.metadata?.packId}`, user.id);
    if (session.payment_status !== "paid") return none("ignored: checkout not paid", user.id);
    const credits: Credit[] = [{ userId: user.id, amount: pack.creditMicros, kind: "credit_pack", source: "pack", sourceId: session.id }];
    const referral = await withReferral(s, user, pack.priceCents, credits);
    return { userId: user.id, outcome: `credited ${pack.id}`, credits, referral, after: [{ kind: "receipt", what: pack.name, cents: pack.priceCents }] };
  }
  const plan = planById(session.metadata?.planId ?? "");
  if (!plan) return none(`ignored: unknown plan ${session.metadata?.planId}`, user.id);
  const subscriptionId = typeof session.subscription === "string" ? session.subscription : session.subscription?.id;
  return {
    userId: user.id,
    outcome: `subscribed to ${plan.id}`,
    credits: [],
    subscription: { userId: user.id, planId: plan.id, status: "active", stripeCustomerId: user.customer ?? null, stripeSubscriptionId: subscriptionId ?? null },
    after: [{ kind: "apply_plan", planId: plan.id }, { kind: "start_agent" }],
  };
}

/** The plan an invoice pays for: the subscription's metadata, else its price. */
function invoicePlan(s: Services, invoice: Stripe.Invoice): Plan | undefined {
  const meta = invoice.parent?.subscription_details?.metadata?.planId;
  const line = invoice.lines?.data?.[0] as (Stripe.InvoiceLineItem & { price?: { id: string } }) | undefined;
  const priceId = line?.price?.id ?? line?.pricing?.price_details?.price;
  return planById(meta ?? "") ?? planForPrice(s.env, typeof priceId === "string" ? priceId : undefined);
}

async function invoicePaid(s: Services, invoice: Stripe.Invoice): Promise<Effects> {
  const user = await userFor(s, invoice.parent?.subscription_details?.metadata?.userId, invoice.customer);
  if (!user) return none("ignored: unknown customer");
  const plan = invoicePlan(s, invoice);
  if (!plan) return none("ignored: unknown price", user.id);
  const receipt: FollowUp = { kind: "receipt", what: `${plan.name} plan`, cents: invoice.amount_paid };
  if (invoice.billing_reason !== "subscription_create" && invoice.billing_reason !== "subscription_cycle")
    return { userId: user.id, outcome: `invoice ${invoice.billing_reason} recorded`, credits: [], after: [receipt] };
  const credits: Credit[] = [{ userId: user.id, amount: plan.includedMicros, kind: "credit_plan", source: "plan", sourceId: invoice.id! }];
  const referral = await withReferral(s, user, invoice.amount_paid, credits);
  return { userId: user.id, outcome: `credited ${plan.id} month`, credits, referral, after: [receipt, { kind: "apply_plan", planId: plan.id }] };
}

const STATUS: Record<string, "active" | "past_due" | "canceled" | "incomplete"> = {
  active: "active",
  trialing: "active",
  past_due: "past_due",
  unpaid: "past_due",
  canceled: "canceled",
  incomplete_expired: "canceled",
  incomplete: "incomplete",
  paused: "past_due",
};

async function subscriptionChanged(s: Services, sub: Stripe.Subscription, deleted: boolean): Promise<Effects> {
  const user = await userFor(s, sub.metadata?.userId, sub.customer);
  if (!user) return none("ignored: unknown customer");
  const item = sub.items.data[0];
  const plan = planForPrice(s.env, item?.price.id) ?? planById(sub.metadata?.planId ?? "");
  if (!plan) return none(`ignored: unknown price ${item?.price.id}`, user.id);
  const status = deleted ? "canceled" : (STATUS[sub.status] ?? "incomplete");
  const periodEnd = item?.current_period_end ? new Date(item.current_period_end * 1000) : null;
  const [before] = await s.db
    .select({ planId: subscriptions.planId, status: subscriptions.status })
    .from(subscriptions)
    .where(eq(subscriptions.userId, user.id));
  const after: Effects["after"] = [];
  if (deleted) after.push({ kind: "end_service" });
  else if (before && before.planId !== plan.id)
    after.push({ kind: "apply_plan", planId: plan.id }, { kind: "plan_changed_mail", from: planById(before.planId)?.name ?? before.planId, to: plan.name });
  if (!deleted && status === "active" && before?.status === "canceled") after.push({ kind: "unsuspend" });
  return {
    userId: user.id,
    outcome: deleted ? "subscription ended" : `subscription ${status} on ${plan.id}`,
    credits: [],
    subscription: {
      userId: user.id,
      planId: plan.id,
      status,
      stripeCustomerId: typeof sub.customer === "string" ? sub.customer : sub.customer.id,
      stripeSubscriptionId: sub.id,
      currentPeriodEnd: periodEnd,
      cancelAtPeriodEnd: sub.cancel_at_period_end ? periodEnd : null,
      graceUntil: deleted ? new Date(Date.now() + GRACE_DAYS * 86_400_000) : null,
    },
    after,
  };
}

/** Off-session auto top-ups: a success credits the pack (once, keyed by the payment); a failure is mailed. */
async function topUpResult(s: Services, pi: Stripe.PaymentIntent, succeeded: boolean): Promise<Effects> {
  if (pi.metadata?.kind !== "auto_topup") return none("ignored: not an auto top-up (packs are credited at checkout)");
  const user = await userFor(s, pi.metadata.userId, pi.customer);
  if (!user) return none("ignored: unknown customer");
  const pack = packById(pi.metadata.packId ?? "");
  if (!pack) return none(`ignored: unknown token pack ${pi.metadata.packId}`, user.id);
  if (!succeeded) return none("auto top-up failed (already reported to the user)", user.id);
  const credits: Credit[] = [{ userId: user.id, amount: pack.creditMicros, kind: "credit_topup", source: "topup", sourceId: pi.id }];
  return { userId: user.id, outcome: `auto top-up ${pack.id} credited`, credits, after: [] };
}

// ── the follow-ups: run by the user's Durable Object after Stripe has its answer ─────────────────────

/**
 * What a Stripe event asks for once it is recorded: plain data, so it can wait in the user's Durable Object
 * as a job (durable-objects/src/jobs.ts) and run after Stripe has its answer, retried until it succeeds.
 */
export type FollowUp =
  | { kind: "receipt"; what: string; cents: number }
  | { kind: "apply_plan"; planId: string }
  | { kind: "start_agent" }
  | { kind: "plan_changed_mail"; from: string; to: string }
  | { kind: "end_service" }
  | { kind: "unsuspend" };

/** The job kind a follow-up is stored under (the job id is the event id and this kind). */
export const JOB_KIND_PREFIX = "stripe:";

/** Runs one follow-up for the user; a throw makes the job retry later. */
export async function runFollowUp(s: Services, userId: string, f: FollowUp): Promise<void> {
  const [user] = await s.db.select({ id: users.id, email: users.email }).from(users).where(eq(users.id, userId));
  if (!user) return; // the account is gone: nothing is owed to it any more
  switch (f.kind) {
    case "receipt":
      await billingMail.receipt(s, user, f.what, f.cents);
      return;
    case "apply_plan": {
      // A plan's markup applies to the user's token prices from now on.
      const plan = planById(f.planId);
      if (plan) await userAgent(s.env, userId).setMarkup(plan.markupBps);
      return;
    }
    case "start_agent":
      await startAgentAfterPayment(s, user);
      return;
    case "plan_changed_mail":
      await billingMail.planChanged(s, user, f.from, f.to);
      return;
    case "end_service":
      // Asleep even when set to stay on: nobody pays for its memory any more (unless an operator's grant does).
      if (!(await paidAccess(s, userId)).ok) await suspendService(s, userId, "the subscription ended");
      await billingMail.subscriptionEnded(s, user, GRACE_DAYS);
      return;
    case "unsuspend":
      await userAgent(s.env, userId).setSuspended(false);
      return;
  }
}

/** The Worker's job runner (registered in worker.ts), called by a UserAgent's alarm for each due job. */
export async function runJob(rawEnv: unknown, job: { id: string; kind: string; userId: string; payload: unknown }): Promise<void> {
  if (!job.kind.startsWith(JOB_KIND_PREFIX)) throw new AppError("INTERNAL", `unknown job kind ${job.kind}`);
  const { env, problems } = loadEnv(rawEnv as object);
  if (!env) throw new Error(`the environment is invalid: ${problems.join("; ")}`);
  const { services, finish } = buildServices(env, `job:${job.id}`);
  try {
    await runFollowUp(services, job.userId, job.payload as FollowUp);
  } finally {
    await finish();
  }
}
