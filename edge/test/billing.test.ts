import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { PLANS, TOKEN_PACKS } from "@oc/contracts/plans";
import { ledgerEntries, referrals, subscriptions, users } from "@oc/db/schema";
import { call, inbox, newEmail, signup, withDb } from "./helpers";
import { chatBody, openai } from "./proxy-helpers";
import { poll } from "../../test-harness/poll";
import { TEST_PORTS, TEST_SECRETS } from "../../test-harness/ports";
import { completeCheckout, signedWebhook, type StripeEvent as Ev } from "../../test-harness/stripe";

/**
 * Billing through the real `stripe` SDK against the local Stripe stand-in: Checkout, the webhook (signed with
 * the SDK's own test helper, verified by the SDK in the Worker), exactly-once credits under redelivery and
 * reordering, plan changes, cancellation, referrals and auto top-up.
 */
const STAND_IN = `http://127.0.0.1:${TEST_PORTS.stripe}`;

async function control<T = any>(path: string): Promise<T> {
  const res = await fetch(`${STAND_IN}${path}`, { method: "POST" });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<T>;
}

/** Signs and delivers one event the way Stripe does. */
async function deliver(event: Ev, opts: { secret?: string; timestamp?: number; signature?: string } = {}) {
  return call("/api/webhooks/stripe", await signedWebhook(event, opts.secret ?? TEST_SECRETS.stripeWebhookSecret, opts));
}

/** Completes a Checkout session at the stand-in and returns the events Stripe would send. */
const pay = (sessionId: string) => completeCheckout(STAND_IN, sessionId);

/** Events the stand-in emitted after a given one (those it sends after answering an API call). */
async function eventsSince(count: number): Promise<Ev[]> {
  const all = await poll(
    () => fetch(`${STAND_IN}/_events`).then((r) => r.json() as Promise<Ev[]>),
    (a) => a.length > count,
    { timeoutMs: 1000 },
  );
  return all.slice(count);
}
const eventCount = async () => ((await fetch(`${STAND_IN}/_events`).then((r) => r.json())) as Ev[]).length;

const balanceOf = async (userId: string) => (await env.USER_AGENT.getByName(userId).getBalance()).balance;
const subscriptionOf = (userId: string) => withDb(async (db) => (await db.select().from(subscriptions).where(eq(subscriptions.userId, userId)))[0]);
const starter = PLANS.find((p) => p.id === "starter")!;
const pro = PLANS.find((p) => p.id === "pro")!;

async function subscribed(plan = "starter") {
  const u = await signup();
  const checkout = await call("/api/billing/checkout", { body: { plan }, cookie: u.cookie });
  expect(checkout.status).toBe(200);
  expect(checkout.body.url).toContain(`${STAND_IN}/checkout/cs_`);
  const events = await pay(checkout.body.id);
  return { ...u, events };
}

describe("plans and checkout", () => {
  it("lists plans and packs publicly, from the one config", async () => {
    const res = await call("/api/billing/plans");
    expect(res.status).toBe(200);
    expect(res.body.plans.map((p: { id: string }) => p.id)).toEqual(PLANS.map((p) => p.id));
    expect(res.body.packs).toHaveLength(TOKEN_PACKS.length);
    for (const p of res.body.plans) expect(p.priceCents).toBeGreaterThanOrEqual(1000);
  });

  it("a paid subscription credits the month's tokens exactly once, even redelivered and out of order, and sets the plan's markup", async () => {
    const u = await subscribed();
    expect(u.events.map((e) => e.type)).toEqual(["checkout.session.completed", "customer.subscription.created", "invoice.paid"]);
    // Stripe does not guarantee order: deliver the invoice first, then the rest.
    for (const e of [...u.events].reverse()) expect((await deliver(e)).status).toBe(200);
    expect(await balanceOf(u.userId)).toBe(starter.includedMicros);
    // Every event again (Stripe retries for days): nothing changes twice.
    for (const e of u.events) {
      const again = await deliver(e);
      expect(again.body).toMatchObject({ received: true, duplicate: true });
    }
    expect(await balanceOf(u.userId)).toBe(starter.includedMicros);
    const sub = await subscriptionOf(u.userId);
    expect(sub).toMatchObject({ planId: "starter", status: "active" });
    expect(sub!.currentPeriodEnd!.getTime()).toBeGreaterThan(Date.now());
    const entries = await withDb((db) => db.select().from(ledgerEntries).where(eq(ledgerEntries.userId, u.userId)));
    expect(entries.map((e) => [e.kind, e.amountMicros])).toEqual([["credit_plan", starter.includedMicros]]);
    expect((await call("/api/billing", { cookie: u.cookie })).body).toMatchObject({
      subscription: { planId: "starter", status: "active" },
      balance: { balance: starter.includedMicros },
    });

    // The plan's markup now prices this user's tokens.
    // (set by a follow-up job, which runs after the webhook's answer)
    const settled = await poll(
      () => env.USER_AGENT.getByName(u.userId).settle("never-reserved", 0, "x"),
      (r) => r.markupBps === starter.markupBps,
    );
    expect(settled.markupBps).toBe(starter.markupBps);

    // No node is connected in these tests: the paid agent could not start, and the user is told by mail.
    const mails = await poll(
      () => inbox(u.email),
      (m) => m.some((x) => x.subject.includes("could not start")),
    );
    expect(mails.map((m) => m.subject)).toEqual(
      expect.arrayContaining([expect.stringContaining("Receipt: Starter plan ($12.00)"), "Your agent could not start yet"]),
    );

    // A second subscription checkout is refused: change the plan instead.
    const again = await call("/api/billing/checkout", { body: { plan: "pro" }, cookie: u.cookie });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("CONFLICT");
  });

  it("each renewal credits that month once", async () => {
    const u = await subscribed();
    for (const e of u.events) await deliver(e);
    const sub = await subscriptionOf(u.userId);
    const renewal = (await control<{ deliveries: { event: Ev }[] }>(`/_renew/${sub!.stripeSubscriptionId}`)).deliveries[0]!.event;
    expect(renewal.data.object.billing_reason).toBe("subscription_cycle");
    await deliver(renewal);
    await deliver(renewal);
    expect(await balanceOf(u.userId)).toBe(2 * starter.includedMicros);
  });

  it("refuses unknown plans and packs with a clear error", async () => {
    const u = await signup();
    const plan = await call("/api/billing/checkout", { body: { plan: "platinum" }, cookie: u.cookie });
    expect(plan.status).toBe(400);
    expect(plan.body.error.message).toContain('Unknown plan "platinum"');
    const pack = await call("/api/billing/packs/checkout", { body: { pack: "pack_999" }, cookie: u.cookie });
    expect(pack.body.error.code).toBe("VALIDATION_FAILED");
    expect((await call("/api/billing/portal", { method: "POST", cookie: u.cookie })).status).toBe(404);
  });
});

describe("the Stripe webhook refuses what it should", () => {
  it("a forged signature, a wrong secret or a stale timestamp changes nothing", async () => {
    const u = await subscribed();
    const invoice = u.events.find((e) => e.type === "invoice.paid")!;
    const forged = await deliver(invoice, { secret: "whsec_attacker" });
    expect(forged.status).toBe(400);
    expect(forged.body.error.code).toBe("INVALID_SIGNATURE");
    const stale = await deliver(invoice, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale.status).toBe(400);
    expect(stale.body.error.message).toMatch(/tolerance/i);
    expect((await deliver(invoice, { signature: "garbage" })).status).toBe(400);
    const missing = await call("/api/webhooks/stripe", { rawBody: JSON.stringify(invoice), headers: { "content-type": "application/json" } });
    expect(missing.body.error.code).toBe("INVALID_SIGNATURE");
    expect(await balanceOf(u.userId)).toBe(0);
  });

  it("events for unknown customers or unknown prices are acknowledged and ignored (Stripe stops retrying)", async () => {
    const u = await subscribed();
    const invoice = u.events.find((e) => e.type === "invoice.paid")!;
    const stranger = structuredClone(invoice);
    stranger.id = `evt_stranger_${Date.now()}`;
    stranger.data.object.customer = "cus_nobody";
    stranger.data.object.parent = null;
    const r1 = await deliver(stranger);
    expect(r1.status).toBe(200);
    expect(r1.body.outcome).toBe("ignored: unknown customer");
    const badPrice = structuredClone(invoice);
    badPrice.id = `evt_badprice_${Date.now()}`;
    badPrice.data.object.parent = null;
    badPrice.data.object.lines.data[0].price.id = "price_unknown";
    expect((await deliver(badPrice)).body.outcome).toBe("ignored: unknown price");
    // Forged metadata naming another user does not credit them: the customer must match.
    const other = await signup();
    const forgedMeta = structuredClone(invoice);
    forgedMeta.id = `evt_forgedmeta_${Date.now()}`;
    forgedMeta.data.object.id = `in_forged_${Date.now()}`;
    forgedMeta.data.object.customer = "cus_someone_else";
    forgedMeta.data.object.parent.subscription_details.metadata.userId = other.userId;
    await withDb((db) =>
      db
        .update(users)
        .set({ stripeCustomerId: `cus_other_${Date.now()}` })
        .where(eq(users.id, other.userId)),
    );
    expect((await deliver(forgedMeta)).body.outcome).toBe("ignored: unknown customer");
    expect(await balanceOf(other.userId)).toBe(0);
    expect(await balanceOf(u.userId)).toBe(0);
  });
});

describe("plan changes and cancellation", () => {
  it("an upgrade is prorated, changes the plan and markup, mails the user, and credits no extra month", async () => {
    const u = await subscribed();
    for (const e of u.events) await deliver(e);
    const before = await eventCount();
    const changed = await call("/api/billing/plan", { body: { plan: "pro" }, cookie: u.cookie });
    expect(changed.status).toBe(200);
    expect(changed.body).toEqual({ planId: "pro", previousPlanId: "starter" });
    const events = await eventsSince(before);
    expect(events.map((e) => e.type)).toEqual(["customer.subscription.updated", "invoice.paid"]);
    expect(events[1]!.data.object).toMatchObject({ billing_reason: "subscription_update", amount_paid: pro.priceCents - starter.priceCents });
    for (const e of events) await deliver(e);
    expect((await subscriptionOf(u.userId))!.planId).toBe("pro");
    // The markup and the mail are follow-up jobs, run after the webhook's answer.
    expect(
      (
        await poll(
          () => env.USER_AGENT.getByName(u.userId).settle("none", 0, "x"),
          (r) => r.markupBps === pro.markupBps,
        )
      ).markupBps,
    ).toBe(pro.markupBps);
    expect(await balanceOf(u.userId)).toBe(starter.includedMicros);
    const changedMails = await poll(
      () => inbox(u.email),
      (m) => m.some((x) => x.subject === "Your plan changed: Starter → Pro"),
    );
    expect(changedMails.map((m) => m.subject)).toContain("Your plan changed: Starter → Pro");
    // An older subscription event arriving late does not undo the change.
    const stale = structuredClone(u.events.find((e) => e.type === "customer.subscription.created")!);
    stale.id = `evt_stale_${Date.now()}`;
    stale.type = "customer.subscription.updated";
    stale.created -= 60;
    await deliver(stale);
    expect((await subscriptionOf(u.userId))!.planId).toBe("pro");
    expect((await call("/api/billing/plan", { body: { plan: "pro" }, cookie: u.cookie })).status).toBe(409);
  });

  it("cancellation ends service at period end: the agent sleeps, model calls stop, data is kept for the grace period", async () => {
    const u = await subscribed();
    for (const e of u.events) await deliver(e);
    const cancel = await call("/api/billing/cancel", { method: "POST", cookie: u.cookie });
    expect(cancel.status).toBe(200);
    expect(new Date(cancel.body.endsAt).getTime()).toBeGreaterThan(Date.now());
    const sub = await subscriptionOf(u.userId);
    const ended = (await control<{ deliveries: { event: Ev }[] }>(`/_end/${sub!.stripeSubscriptionId}`)).deliveries[0]!.event;
    expect((await deliver(ended)).body.outcome).toBe("subscription ended");
    const after = await subscriptionOf(u.userId);
    expect(after!.status).toBe("canceled");
    expect(after!.graceUntil!.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    // Ending the service is a follow-up job, run after the webhook's answer; its mail is its last step.
    await poll(
      () => inbox(u.email),
      (m) => m.some((x) => x.subject === "Your OpenClaw Cloud subscription has ended"),
    );
    const key = (await call("/api/agent/proxy-key", { method: "POST", cookie: u.cookie })).body.key;
    const refused = await openai(key)
      .chat.completions.create(chatBody("hello"))
      .catch((e) => e);
    expect(refused.status).toBe(403);
    expect((await inbox(u.email)).map((m) => m.subject)).toContain("Your OpenClaw Cloud subscription has ended");
  });
});

describe("token packs and referrals", () => {
  it("a pack credits once; the referrer earns 20% of the referred user's first payment only", async () => {
    const referrer = await signup();
    const code = await withDb(async (db) => (await db.select({ c: users.referralCode }).from(users).where(eq(users.id, referrer.userId)))[0]!.c);
    const friend = await signup(newEmail(), "a-long-enough-password", { referralCode: code });
    const cookie = friend.cookie;
    const friendId = friend.userId;

    for (const round of [1, 2]) {
      const checkout = await call("/api/billing/packs/checkout", { body: { pack: "pack_20" }, cookie });
      expect(checkout.status).toBe(200);
      const [completed] = await pay(checkout.body.id);
      expect((await deliver(completed!)).body.outcome).toBe("credited pack_20");
      expect((await deliver(completed!)).body.duplicate).toBe(true);
      expect(await balanceOf(friendId)).toBe(round * 20_000_000);
    }
    expect(await balanceOf(referrer.userId)).toBe(4_000_000); // 20% of $20, once
    const rows = await withDb((db) => db.select().from(referrals).where(eq(referrals.referredId, friendId)));
    expect(rows).toMatchObject([{ referrerId: referrer.userId, creditedMicros: 4_000_000 }]);
    const ledger = await env.USER_AGENT.getByName(referrer.userId).listLedger(10);
    expect(ledger.map((e) => e.kind)).toContain("credit:referral");
  });

  it("self-referral (the same inbox under another address) earns nothing", async () => {
    const base = `self${crypto.randomUUID().slice(0, 8)}`;
    const me = await signup(`${base}@gmail.com`);
    const code = await withDb(async (db) => (await db.select({ c: users.referralCode }).from(users).where(eq(users.id, me.userId)))[0]!.c);
    const alias = await signup(`${base.slice(0, 3)}.${base.slice(3)}+2@gmail.com`, "a-long-enough-password", { referralCode: code });
    const checkout = await call("/api/billing/packs/checkout", { body: { pack: "pack_5" }, cookie: alias.cookie });
    const [completed] = await pay(checkout.body.id);
    await deliver(completed!);
    expect(await balanceOf(alias.userId)).toBe(5_000_000);
    expect(await balanceOf(me.userId)).toBe(0);
  });
});

describe("auto top-up", () => {
  async function userWithCard() {
    const u = await signup();
    const issued = await call("/api/agent/proxy-key", { method: "POST", cookie: u.cookie });
    const checkout = await call("/api/billing/packs/checkout", { body: { pack: "pack_5" }, cookie: u.cookie });
    const [completed] = await pay(checkout.body.id);
    await deliver(completed!);
    return { ...u, key: issued.body.key as string };
  }

  it("below the threshold the saved card is charged once for the chosen pack, and the webhook does not credit it again", async () => {
    const u = await userWithCard();
    const set = await call("/api/billing/auto-top-up", {
      method: "PUT",
      body: { enabled: true, thresholdMicros: 5_000_000, pack: "pack_20" },
      cookie: u.cookie,
    });
    expect(set.body).toEqual({ enabled: true, threshold: 5_000_000, packId: "pack_20" });
    const before = await eventCount();
    await openai(u.key).chat.completions.create(chatBody("spend a little"));
    const balance = await poll(
      () => balanceOf(u.userId),
      (b) => b > 20_000_000,
    );
    expect(balance).toBeGreaterThan(20_000_000);
    expect(balance).toBeLessThan(25_000_000);
    const [succeeded] = (await eventsSince(before)).filter((e) => e.type === "payment_intent.succeeded");
    expect(succeeded!.data.object.metadata).toMatchObject({ kind: "auto_topup", packId: "pack_20", userId: u.userId });
    expect((await deliver(succeeded!)).body.outcome).toBe("auto top-up pack_20 credited");
    expect(await balanceOf(u.userId)).toBe(balance); // the same payment, not credited twice
    const charges = ((await fetch(`${STAND_IN}/_requests`).then((r) => r.json())) as { path: string; form: any }[]).filter(
      (r) => r.path === "/v1/payment_intents" && r.form.metadata?.userId === u.userId,
    );
    expect(charges).toHaveLength(1);
    expect(charges[0]!.form).toMatchObject({ off_session: "true", confirm: "true", amount: "2000" });
  });

  it("a declined card is mailed and shown, and not retried in a loop", async () => {
    const u = await userWithCard();
    const customer = await withDb(async (db) => (await db.select({ c: users.stripeCustomerId }).from(users).where(eq(users.id, u.userId)))[0]!.c!);
    await control(`/_decline/${customer}`);
    await call("/api/billing/auto-top-up", { method: "PUT", body: { enabled: true, thresholdMicros: 5_000_000, pack: "pack_20" }, cookie: u.cookie });
    for (const text of ["one", "two", "three"]) await openai(u.key).chat.completions.create(chatBody(text));
    const mails = await poll(
      () => inbox(u.email),
      (m) => m.some((x) => x.subject.includes("did not go through")),
    );
    expect(mails.filter((m) => m.subject === "Your automatic top-up did not go through")).toHaveLength(1);
    expect(mails.find((m) => m.subject.includes("did not go through"))!.text).toContain("Your card was declined.");
    const activity = await env.USER_AGENT.getByName(u.userId).listActivity(20);
    expect(activity.filter((a) => a.message.startsWith("Automatic top-up failed"))).toHaveLength(1);
    const charges = ((await fetch(`${STAND_IN}/_requests`).then((r) => r.json())) as { path: string; form: any }[]).filter(
      (r) => r.path === "/v1/payment_intents" && r.form.metadata?.userId === u.userId,
    );
    expect(charges).toHaveLength(1);
    expect(await balanceOf(u.userId)).toBeLessThan(5_000_000);
  });
});
