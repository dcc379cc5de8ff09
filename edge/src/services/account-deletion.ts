import { and, eq } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { agents, auditLog, emailOutbox, oauthAccounts, operatorGrants, provisionAttempts, sessions, subscriptions, templates, users } from "@oc/db/schema";
import { randomToken } from "@oc/contracts/crypto";
import { revokeEveryAccess } from "./account-reset";
import { audit } from "./audit";
import { stripeFor } from "./billing/stripe";
import type { RequestMeta, Services } from "./context";
import { graceEnded } from "./entitlement";
import { verifyPassword } from "./password";
import { nodeLink } from "../clients/node-link";
import { userAgent } from "../clients/user-agent";

/** An account without a password (Google only) confirms deletion by having signed in this recently. */
export const RECENT_SIGN_IN_MS = 15 * 60_000;

/**
 * "Delete my account", confirmed with the password, or (an account without one) by a sign-in within the
 * last minutes. Only a browser session may do it: an API key cannot delete its own account.
 */
export async function requestAccountDeletion(s: Services, userId: string, sessionId: string | undefined, password: string | undefined, meta: RequestMeta) {
  if (!sessionId) throw new AppError("FORBIDDEN", "Delete your account from the Security Center while signed in (API keys cannot do it).");
  const [u] = await s.db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, userId));
  if (!u) throw new AppError("NOT_FOUND", "No such account.");
  if (u.passwordHash) {
    if (!password || !(await verifyPassword(password, u.passwordHash)))
      throw new AppError("INVALID_CREDENTIALS", "That password is not right. Your account was not deleted.");
  } else {
    const [session] = await s.db
      .select({ createdAt: sessions.createdAt })
      .from(sessions)
      .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)));
    if (!session || Date.now() - session.createdAt.getTime() > RECENT_SIGN_IN_MS)
      throw new AppError("FORBIDDEN", "For your safety, sign out and sign in again, then delete your account within 15 minutes.");
  }
  return deleteAccount(s, userId, meta, "requested by the user");
}

/**
 * Deletes an account: the agent's container and its archives (the node's `remove` with erase), channels,
 * keys, sessions, 2FA, memories, conversations and files, the mails kept for it, and the profile. Kept, as
 * accounting law asks, only without anything personal: the user row (an id, a placeholder address, the
 * Stripe customer id that invoices refer to, deleted_at), ledger and usage rows, referrals, the
 * subscription mirror. An active Stripe subscription is cancelled first, so nothing is charged after.
 */
export async function deleteAccount(s: Services, userId: string, meta: RequestMeta, why: string) {
  const [u] = await s.db.select({ id: users.id, deletedAt: users.deletedAt }).from(users).where(eq(users.id, userId));
  if (!u || u.deletedAt) return { deleted: false };
  const [sub] = await s.db
    .select({ status: subscriptions.status, stripeId: subscriptions.stripeSubscriptionId })
    .from(subscriptions)
    .where(eq(subscriptions.userId, userId));
  if (sub?.stripeId && sub.status !== "canceled") {
    try {
      await stripeFor(s.env).subscriptions.cancel(sub.stripeId);
    } catch (cause) {
      throw new AppError(
        "BILLING_UNAVAILABLE",
        "Your plan could not be cancelled with Stripe just now, so nothing was deleted. Please try again in a minute.",
        { cause },
      );
    }
    await s.db.update(subscriptions).set({ status: "canceled", updatedAt: new Date() }).where(eq(subscriptions.userId, userId));
  }

  const account = userAgent(s.env, userId);
  const nodeId = await account.placement();
  // The node removes the container, its network, the local state and every S3 archive of it. Queued when
  // the node is offline (it gets the command when it reconnects).
  if (nodeId) await nodeLink(s.env, nodeId).sendCommand({ kind: "remove", userId, erase: true }, `remove:${userId}:${Date.now()}`);
  await s.db.update(agents).set({ nodeId: null, updatedAt: new Date() }).where(eq(agents.userId, userId));
  await revokeEveryAccess(s, userId, meta, `account deleted: ${why}`);
  await account.erasePersonalData();
  // The agent row carries its channels, skills, schedule, memories, conversations and browser session along.
  await s.db.delete(agents).where(eq(agents.userId, userId));
  await s.db.delete(oauthAccounts).where(eq(oauthAccounts.userId, userId));
  await s.db.delete(operatorGrants).where(eq(operatorGrants.userId, userId));
  await s.db.delete(provisionAttempts).where(eq(provisionAttempts.userId, userId));
  await s.db.delete(emailOutbox).where(eq(emailOutbox.userId, userId));
  await s.db.update(templates).set({ authorId: null }).where(eq(templates.authorId, userId));
  await s.db.update(auditLog).set({ ip: null, meta: null }).where(eq(auditLog.userId, userId));
  await s.db
    .update(users)
    .set({
      email: `deleted+${userId}@deleted.invalid`,
      name: null,
      passwordHash: null,
      emailVerifiedAt: null,
      role: "user",
      referralCode: `deleted-${randomToken(6)}`,
      referredBy: null,
      timezone: "UTC",
      deletedAt: new Date(),
      updatedAt: new Date(),
    })
    .where(eq(users.id, userId));
  audit(s, { ip: null, userAgent: null }, userId, "account.deleted", { why });
  console.log(`[account] ${userId} deleted (${why})`);
  return { deleted: true };
}

/**
 * The per-minute job: accounts whose plan ended more than the grace period ago are deleted the same way.
 * A few at a time, so one run stays short; the next minute takes the rest.
 */
export async function deleteAfterGrace(s: Services, batch = 10) {
  const due = await graceEnded(s, batch);
  const done: string[] = [];
  for (const userId of due) {
    try {
      if ((await deleteAccount(s, userId, { ip: null, userAgent: "cron" }, "the grace period after the plan ended is over")).deleted) done.push(userId);
    } catch (e) {
      console.error(`[account] scheduled deletion of ${userId} failed; retried next minute`, e);
    }
  }
  return { deleted: done };
}
