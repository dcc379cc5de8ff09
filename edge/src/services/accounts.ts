import { and, eq, gt, isNull } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { emailTokens, loginChallenges, users } from "@oc/db/schema";
import { randomToken, sha256Hex } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import { limitAccount } from "./attempts";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { templates } from "./email";
import { DUMMY_HASH, hashPassword, verifyPassword } from "./password";
import { createSession, revokeAllSessions } from "./sessions";
import { userAgent } from "../clients/user-agent";

const VERIFY_TTL_MS = 24 * 3_600_000;
const RESET_TTL_MS = 3_600_000;
const CHALLENGE_TTL_MS = 5 * 60_000;
export const MAX_CHALLENGE_ATTEMPTS = 5;

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

async function issueEmailToken(s: Services, userId: string, purpose: "verify_email" | "reset_password") {
  const token = randomToken();
  await s.db.insert(emailTokens).values({
    tokenHash: await sha256Hex(token),
    userId,
    purpose,
    expiresAt: new Date(Date.now() + (purpose === "verify_email" ? VERIFY_TTL_MS : RESET_TTL_MS)),
  });
  return token;
}

/** Marks a token used exactly once (the UPDATE ... WHERE used_at IS NULL is the race-free check). */
async function consumeEmailToken(s: Services, token: string, purpose: "verify_email" | "reset_password") {
  const [row] = await s.db
    .update(emailTokens)
    .set({ usedAt: new Date() })
    .where(
      and(
        eq(emailTokens.tokenHash, await sha256Hex(token)),
        eq(emailTokens.purpose, purpose),
        isNull(emailTokens.usedAt),
        gt(emailTokens.expiresAt, new Date()),
      ),
    )
    .returning({ userId: emailTokens.userId });
  if (!row) throw new AppError("INVALID_TOKEN", "This link is invalid, expired or already used. Ask for a new one.");
  return row.userId;
}

/**
 * Creates an account, or for an address that already has one, creates nothing and tells its owner by mail
 * that someone tried. Both answer the same (the caller says "check your inbox", signs no one in, and the
 * password is hashed either way so both take as long), so signup cannot be used to discover accounts. The
 * new owner signs in with the password next, as at any other time.
 */
export async function signup(s: Services, input: { email: string; password: string; name?: string; referralCode?: string }, meta: RequestMeta): Promise<void> {
  const email = normalizeEmail(input.email);
  await limitAccount(s, "signup", email);
  const passwordHash = await hashPassword(input.password);
  let referredBy: string | null = null;
  if (input.referralCode) {
    const [ref] = await s.db.select({ id: users.id }).from(users).where(eq(users.referralCode, input.referralCode)).limit(1);
    referredBy = ref?.id ?? null;
  }
  const id = newId("usr");
  const inserted = await s.db
    .insert(users)
    .values({ id, email, name: input.name ?? null, passwordHash, referralCode: randomToken(6), referredBy })
    .onConflictDoNothing({ target: users.email })
    .returning({ id: users.id });
  if (inserted.length === 0) {
    const [owner] = await s.db.select({ id: users.id }).from(users).where(eq(users.email, email)).limit(1);
    if (owner) {
      await s.mailer.send({ to: email, userId: owner.id, ...templates.signupAttempt(`${s.env.APP_URL}/login`, `${s.env.APP_URL}/forgot-password`) });
      audit(s, meta, owner.id, "account.signup_existing_address");
    }
    return;
  }
  await sendVerification(s, id, email);
  await onUserCreated(s, id);
  audit(s, meta, id, "account.signup");
}

export async function sendVerification(s: Services, userId: string, email: string) {
  const token = await issueEmailToken(s, userId, "verify_email");
  await s.mailer.send({ to: email, userId, ...templates.verifyEmail(`${s.env.APP_URL}/verify-email?token=${token}`) });
}

export async function verifyEmail(s: Services, token: string) {
  const userId = await consumeEmailToken(s, token, "verify_email");
  await s.db
    .update(users)
    .set({ emailVerifiedAt: new Date(), updatedAt: new Date() })
    .where(and(eq(users.id, userId), isNull(users.emailVerifiedAt)));
  return { userId };
}

/**
 * Always "ok" whether or not the email exists, so the endpoint cannot be used to discover accounts (the
 * per-account limit counts unknown addresses the same way).
 */
export async function requestPasswordReset(s: Services, rawEmail: string, meta: RequestMeta) {
  const email = normalizeEmail(rawEmail);
  await limitAccount(s, "forgot", email);
  const [user] = await s.db.select({ id: users.id, email: users.email }).from(users).where(eq(users.email, email)).limit(1);
  if (!user) return;
  const token = await issueEmailToken(s, user.id, "reset_password");
  await s.mailer.send({ to: user.email, userId: user.id, ...templates.resetPassword(`${s.env.APP_URL}/reset-password?token=${token}`) });
  audit(s, meta, user.id, "account.password_reset_requested");
}

/** Sets the new password and signs the user out everywhere (a reset usually means a leaked password). */
export async function resetPassword(s: Services, token: string, password: string, meta: RequestMeta) {
  const userId = await consumeEmailToken(s, token, "reset_password");
  await s.db
    .update(users)
    .set({ passwordHash: await hashPassword(password), updatedAt: new Date() })
    .where(eq(users.id, userId));
  await revokeAllSessions(s, userId);
  audit(s, meta, userId, "account.password_reset");
}

export type LoginResult = { kind: "session"; userId: string; session: Awaited<ReturnType<typeof createSession>> } | { kind: "two_factor"; challenge: string };

/**
 * Password login. A user with 2FA gets a short-lived challenge instead of a session: nothing that grants
 * access exists until verifyLoginChallenge accepts a code.
 */
export async function login(s: Services, rawEmail: string, password: string, meta: RequestMeta): Promise<LoginResult> {
  const email = normalizeEmail(rawEmail);
  await limitAccount(s, "login", email);
  const [user] = await s.db
    .select({ id: users.id, passwordHash: users.passwordHash, totpEnabledAt: users.totpEnabledAt })
    .from(users)
    .where(eq(users.email, email))
    .limit(1);
  const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
  if (!user || !user.passwordHash || !ok) {
    audit(s, meta, user?.id ?? null, "account.login_failed");
    throw new AppError("INVALID_CREDENTIALS", "Email or password is wrong.");
  }
  return sessionOrChallenge(s, user.id, !!user.totpEnabledAt, meta);
}

/** The last step of every login path: a session, or a 2FA challenge for users who turned 2FA on. */
export async function sessionOrChallenge(s: Services, userId: string, twoFactor: boolean, meta: RequestMeta): Promise<LoginResult> {
  if (twoFactor) {
    const challenge = randomToken();
    await s.db.insert(loginChallenges).values({
      tokenHash: await sha256Hex(challenge),
      userId,
      expiresAt: new Date(Date.now() + CHALLENGE_TTL_MS),
    });
    return { kind: "two_factor", challenge };
  }
  audit(s, meta, userId, "account.login");
  return { kind: "session", userId, session: await createSession(s, userId, meta) };
}

/** Every new account gets its Durable Object bound at once, so its activity feed starts with the signup. */
export async function onUserCreated(s: Services, userId: string) {
  await userAgent(s.env, userId).init(userId);
}
