import { and, desc, eq, inArray, lt, sql } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { operatorGrants, provisionAttempts, subscriptions, users } from "@oc/db/schema";
import { newId } from "@oc/contracts/ids";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { userAgent } from "../clients/user-agent";

/**
 * Who may use what costs the platform money. Paid work (creating an agent, waking it, keeping it always on)
 * needs an active plan or an operator's grant; what lets an account act on its own outside the dashboard
 * (API keys, chat channels) needs a confirmed email address. Paying itself needs neither: Checkout stays
 * open to a brand-new account, and its webhook provisions because the subscription it records is active.
 */

/** Provisioning attempts an account may make per hour (each one may start a container somewhere). */
export const PROVISION_LIMIT_PER_HOUR = 6;

/**
 * A plan counts while Stripe calls it active (trialing maps to active; a plan cancelled at period end stays
 * active until then). past_due does not: the renewal was not paid. A deleted subscription is "canceled".
 */
const planActive = (status: string | null) => status === "active";

export async function paidAccess(s: Services, userId: string): Promise<{ ok: boolean; via: "plan" | "grant" | null }> {
  const [row] = await s.db
    .select({ status: subscriptions.status, grant: operatorGrants.userId })
    .from(users)
    .leftJoin(subscriptions, eq(subscriptions.userId, users.id))
    .leftJoin(operatorGrants, eq(operatorGrants.userId, users.id))
    .where(and(eq(users.id, userId), sql`${users.deletedAt} IS NULL`));
  if (!row) return { ok: false, via: null };
  if (planActive(row.status)) return { ok: true, via: "plan" };
  if (row.grant) return { ok: true, via: "grant" };
  return { ok: false, via: null };
}

/** Throws PAYMENT_REQUIRED unless the account has an active plan or an operator's grant. */
export async function requirePaid(s: Services, userId: string, what: string) {
  if (!(await paidAccess(s, userId)).ok)
    throw new AppError(
      "PAYMENT_REQUIRED",
      `${what} needs an active plan. Choose one on the billing page; your agent starts as soon as the payment goes through.`,
    );
}

/** Of these users, the ones with paid access (one query; the fleet counts only their memory). */
export async function paidAmong(s: Services, userIds: string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const rows = await s.db
    .select({ id: users.id, status: subscriptions.status, grant: operatorGrants.userId })
    .from(users)
    .leftJoin(subscriptions, eq(subscriptions.userId, users.id))
    .leftJoin(operatorGrants, eq(operatorGrants.userId, users.id))
    .where(and(inArray(users.id, userIds), sql`${users.deletedAt} IS NULL`));
  return new Set(rows.filter((r) => r.grant || planActive(r.status)).map((r) => r.id));
}

/** Throws EMAIL_NOT_VERIFIED until the account's address is confirmed. */
export async function requireVerified(s: Services, userId: string, what: string) {
  const [u] = await s.db.select({ at: users.emailVerifiedAt }).from(users).where(eq(users.id, userId));
  if (!u?.at) throw new AppError("EMAIL_NOT_VERIFIED", `Confirm your email address first (we sent you a link) to ${what}.`);
}

/**
 * Records one provisioning attempt, refusing it past PROVISION_LIMIT_PER_HOUR for the account. A per-account
 * advisory lock serialises the count and the insert, so a burst of parallel requests cannot all pass one count.
 */
export async function countProvisionAttempt(s: Services, userId: string) {
  const hourAgo = new Date(Date.now() - 3_600_000);
  const inserted = await s.db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${`provision:${userId}`}))`);
    return tx.execute(sql`
      INSERT INTO ${provisionAttempts} (id, user_id)
      SELECT ${newId("pra")}, ${userId}
      WHERE (SELECT count(*) FROM ${provisionAttempts} WHERE user_id = ${userId} AND created_at > ${hourAgo.toISOString()}) < ${PROVISION_LIMIT_PER_HOUR}
      RETURNING id`);
  });
  s.defer(s.db.delete(provisionAttempts).where(and(eq(provisionAttempts.userId, userId), lt(provisionAttempts.createdAt, new Date(Date.now() - 86_400_000)))));
  if (inserted.rows.length === 0)
    throw new AppError("RATE_LIMITED", `Your agent was started ${PROVISION_LIMIT_PER_HOUR} times in the last hour. Please wait a little before trying again.`);
}

// ── operator grants ──────────────────────────────────────────────────────────────────────────────────

export async function grantAccess(s: Services, operatorId: string, target: { userId?: string; email?: string }, note: string | undefined, meta: RequestMeta) {
  const where = target.userId ? eq(users.id, target.userId) : eq(users.email, (target.email ?? "").trim().toLowerCase());
  const [u] = await s.db
    .select({ id: users.id, email: users.email })
    .from(users)
    .where(and(where, sql`${users.deletedAt} IS NULL`));
  if (!u) throw new AppError("NOT_FOUND", "No such account.");
  await s.db
    .insert(operatorGrants)
    .values({ userId: u.id, grantedBy: operatorId, note: note ?? null })
    .onConflictDoUpdate({ target: operatorGrants.userId, set: { grantedBy: operatorId, note: note ?? null } });
  // A grant lifts a suspension from a lapsed plan: the agent may wake again.
  await userAgent(s.env, u.id).setSuspended(false);
  audit(s, meta, operatorId, "admin.grant", { userId: u.id, note });
  return { userId: u.id, email: u.email };
}

/** Revokes a grant; without a plan the account's agent is put to sleep and kept from waking, as after a plan ends. */
export async function revokeGrant(s: Services, operatorId: string, userId: string, meta: RequestMeta) {
  const done = await s.db.delete(operatorGrants).where(eq(operatorGrants.userId, userId)).returning({ userId: operatorGrants.userId });
  if (done.length === 0) throw new AppError("NOT_FOUND", "This account has no grant.");
  if (!(await paidAccess(s, userId)).ok) await suspendService(s, userId, "the operator's grant was revoked");
  audit(s, meta, operatorId, "admin.grant_revoked", { userId });
}

export async function listGrants(s: Services) {
  const rows = await s.db
    .select({
      userId: operatorGrants.userId,
      email: users.email,
      note: operatorGrants.note,
      grantedBy: operatorGrants.grantedBy,
      createdAt: operatorGrants.createdAt,
    })
    .from(operatorGrants)
    .innerJoin(users, eq(users.id, operatorGrants.userId))
    .orderBy(desc(operatorGrants.createdAt))
    .limit(200);
  return rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() }));
}

/**
 * No more paid access: the agent goes to sleep now, even when set to stay on (its RAM must not count as
 * committed for an account nobody pays for), and is not woken until access returns. Its archive is kept.
 */
export async function suspendService(s: Services, userId: string, reason: string) {
  const account = userAgent(s.env, userId);
  await account.requestSleep("deep", true);
  await account.setSuspended(true, reason);
}

/** Subscriptions whose grace period ended (for the scheduled deletion). */
export async function graceEnded(s: Services, limit = 20) {
  const rows = await s.db
    .select({ userId: subscriptions.userId })
    .from(subscriptions)
    .innerJoin(users, eq(users.id, subscriptions.userId))
    .where(and(eq(subscriptions.status, "canceled"), lt(subscriptions.graceUntil, new Date()), sql`${users.deletedAt} IS NULL`))
    .limit(limit);
  return rows.map((r) => r.userId);
}
