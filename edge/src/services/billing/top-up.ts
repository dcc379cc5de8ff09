import { eq } from "drizzle-orm";
import Stripe from "stripe";
import { packById } from "@oc/contracts/plans";
import { ledgerEntries, users } from "@oc/db/schema";
import { newId } from "@oc/contracts/ids";
import type { Services } from "../context";
import { billingMail } from "./mail";
import { stripeFor } from "./stripe";
import { userAgent } from "../../clients/user-agent";

export const DEFAULT_TOP_UP_PACK = "pack_20";

/**
 * Consumes the user's low-balance events (raised once per crossing by the ledger): mails a warning, and with
 * auto top-up on, charges the saved card off-session for the configured pack. The idempotency key is the
 * event, so a retried job charges once. A failure is mailed and shown and never retried on its own: the
 * ledger raises the next event only after the balance has risen above the threshold again.
 */
export async function runAutoTopUp(s: Services, userId: string): Promise<{ charged: boolean; reason?: string }> {
  const account = userAgent(s.env, userId);
  const events = (await account.takeEvents()).filter((e) => e.kind === "low_balance");
  if (events.length === 0) return { charged: false, reason: "no low-balance event" };
  const [user] = await s.db.select({ id: users.id, email: users.email, customer: users.stripeCustomerId }).from(users).where(eq(users.id, userId));
  if (!user) return { charged: false, reason: "unknown user" };
  const { autoTopUp } = await account.getProtection();
  const { balance } = await account.getBalance();
  if (!autoTopUp.enabled) {
    await billingMail.lowBalance(s, user, balance);
    return { charged: false, reason: "auto top-up is off" };
  }
  const pack = packById(autoTopUp.packId ?? DEFAULT_TOP_UP_PACK) ?? packById(DEFAULT_TOP_UP_PACK)!;
  const fail = async (reason: string) => {
    await account.recordActivity("billing", `Automatic top-up failed: ${reason}`);
    await billingMail.topUpFailed(s, user, reason);
    return { charged: false, reason };
  };
  if (!user.customer) return fail("there is no saved card yet; buy a token pack once to save one");
  const stripe = stripeFor(s.env);
  const customer = await stripe.customers.retrieve(user.customer);
  const paymentMethod = "deleted" in customer ? null : customer.invoice_settings?.default_payment_method;
  if (!paymentMethod) return fail("there is no saved card yet; buy a token pack once to save one");
  try {
    const pi = await stripe.paymentIntents.create(
      {
        amount: pack.priceCents,
        currency: "usd",
        customer: user.customer,
        payment_method: typeof paymentMethod === "string" ? paymentMethod : paymentMethod.id,
        off_session: true,
        confirm: true,
        metadata: { userId, packId: pack.id, kind: "auto_topup" },
      },
      { idempotencyKey: `topup:${userId}:${events[0]!.id}:${events[0]!.at}` },
    );
    if (pi.status !== "succeeded") return fail(`the payment is ${pi.status.replace(/_/g, " ")}`);
    // Credited now; the payment_intent.succeeded webhook carries the same key and changes nothing.
    await account.credit(pack.creditMicros, "topup", pi.id);
    await s.db
      .insert(ledgerEntries)
      .values({ id: newId("led"), userId, kind: "credit_topup", amountMicros: pack.creditMicros, source: "topup", sourceId: pi.id })
      .onConflictDoNothing();
    return { charged: true };
  } catch (e) {
    if (e instanceof Stripe.errors.StripeCardError) return fail(e.message);
    throw e;
  }
}
