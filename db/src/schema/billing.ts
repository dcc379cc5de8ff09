import { bigint, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { users } from "./accounts";
import { timestamps } from "./util";

/**
 * Money is integer micro-units (1 USD = 1_000_000) everywhere: never floats. Plans and packs are code
 * (contracts/src/plans.ts); a subscription row mirrors the user's Stripe subscription.
 */
export const subscriptions = pgTable(
  "subscriptions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    planId: text("plan_id").notNull(),
    status: text("status", { enum: ["incomplete", "active", "past_due", "canceled"] }).notNull(),
    stripeCustomerId: text("stripe_customer_id"),
    stripeSubscriptionId: text("stripe_subscription_id"),
    currentPeriodEnd: timestamp("current_period_end", { withTimezone: true }),
    cancelAtPeriodEnd: timestamp("cancel_at_period_end", { withTimezone: true }),
    /** `created` of the newest Stripe event applied: older events arriving late change nothing. */
    stripeEventAt: timestamp("stripe_event_at", { withTimezone: true }),
    /** After cancellation the agent's data is kept until then. */
    graceUntil: timestamp("grace_until", { withTimezone: true }),
    ...timestamps,
  },
  (t) => [uniqueIndex("subscriptions_user_uq").on(t.userId), uniqueIndex("subscriptions_stripe_uq").on(t.stripeSubscriptionId)],
);

/** Every Stripe webhook event applied, once: the primary key makes a redelivery a no-op. */
export const stripeEvents = pgTable("stripe_events", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  userId: text("user_id"),
  outcome: text("outcome").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The durable copy of the ledger held by each user's Durable Object. `sourceId` is unique per source, so a
 * replayed webhook or a retried settlement cannot credit or debit twice.
 */
export const ledgerEntries = pgTable(
  "ledger_entries",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    kind: text("kind", { enum: ["credit_plan", "credit_pack", "credit_topup", "credit_referral", "credit_adjustment", "debit_usage"] }).notNull(),
    amountMicros: bigint("amount_micros", { mode: "number" }).notNull(),
    source: text("source").notNull(),
    sourceId: text("source_id").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("ledger_source_uq").on(t.source, t.sourceId), index("ledger_user_idx").on(t.userId, t.createdAt)],
);

export const usageRecords = pgTable(
  "usage_records",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    agentId: text("agent_id"),
    model: text("model").notNull(),
    provider: text("provider").notNull(),
    tier: text("tier"),
    routeReason: text("route_reason"),
    /** The model catalog version whose prices this call was billed at. */
    priceVersion: integer("price_version"),
    inputTokens: integer("input_tokens").notNull(),
    outputTokens: integer("output_tokens").notNull(),
    cachedTokens: integer("cached_tokens").notNull().default(0),
    costMicros: bigint("cost_micros", { mode: "number" }).notNull(),
    priceMicros: bigint("price_micros", { mode: "number" }).notNull(),
    markupBps: integer("markup_bps").notNull(),
    /** Of price_micros, what the call cost above its hold (charged in full; non-zero means a pricing rule missed something). */
    overHoldMicros: bigint("over_hold_micros", { mode: "number" }).notNull().default(0),
    latencyMs: integer("latency_ms").notNull(),
    background: text("background", { enum: ["interactive", "background"] }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("usage_user_time_idx").on(t.userId, t.createdAt)],
);

export const referrals = pgTable(
  "referrals",
  {
    id: text("id").primaryKey(),
    referrerId: text("referrer_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    referredId: text("referred_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    creditedMicros: bigint("credited_micros", { mode: "number" }),
    creditedAt: timestamp("credited_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("referrals_referred_uq").on(t.referredId)],
);

/**
 * The model catalog the operator edits (models, tiers, wholesale prices with their source and date, per-plan
 * markup): one row per published version, never updated, so every usage record can name the prices it was
 * billed at. The newest version is the live one.
 */
export const modelCatalogs = pgTable("model_catalogs", {
  version: integer("version").primaryKey(),
  doc: jsonb("doc").notNull(),
  createdBy: text("created_by"),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});
