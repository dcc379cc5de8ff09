import { createTOTPKeyURI, generateHOTP } from "@oslojs/otp";
import { and, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { loginChallenges, recoveryCodes, users } from "@oc/db/schema";
import { fromBase64, sha256Hex, timingSafeEqual, toBase64Url } from "@oc/contracts/crypto";
import { base32, newId } from "@oc/contracts/ids";
import { MAX_CHALLENGE_ATTEMPTS } from "./accounts";
import { limitAccount } from "./attempts";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { verifyPassword } from "./password";
import { createSession, revokeOtherSessions } from "./sessions";

/** RFC 6238 defaults every authenticator app understands. */
const PERIOD = 30;
const DIGITS = 6;
const RECOVERY_CODES = 10;

const secretContext = (userId: string) => `totp:${userId}`;

async function loadSecret(s: Services, userId: string) {
  const [u] = await s.db
    .select({ enc: users.totpSecretEnc, enabledAt: users.totpEnabledAt, lastStep: users.totpLastStep, email: users.email, passwordHash: users.passwordHash })
    .from(users)
    .where(eq(users.id, userId));
  if (!u) throw new AppError("NOT_FOUND", "No such user");
  const key = u.enc ? fromBase64(await s.secrets.decrypt(u.enc, secretContext(userId))) : undefined;
  return { ...u, key };
}

/**
 * Checks a code against the current step and one step either side (clock drift), and accepts each step at
 * most once: the conditional UPDATE makes a replayed or concurrently submitted code fail.
 */
async function acceptTotp(s: Services, userId: string, key: Uint8Array, code: string): Promise<boolean> {
  if (!/^\d{6}$/.test(code)) return false;
  const now = Math.floor(Date.now() / 1000 / PERIOD);
  for (const step of [now - 1, now, now + 1]) {
    if (!timingSafeEqual(generateHOTP(key, BigInt(step), DIGITS), code)) continue;
    const updated = await s.db
      .update(users)
      .set({ totpLastStep: step })
      .where(and(eq(users.id, userId), or(isNull(users.totpLastStep), lt(users.totpLastStep, step))))
      .returning({ id: users.id });
    return updated.length === 1;
  }
  return false;
}

async function acceptRecoveryCode(s: Services, userId: string, code: string): Promise<boolean> {
  const normalized = code
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "");
  const used = await s.db
    .update(recoveryCodes)
    .set({ usedAt: new Date() })
    .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, await sha256Hex(normalized)), isNull(recoveryCodes.usedAt)))
    .returning({ id: recoveryCodes.id });
  return used.length === 1;
}

/** Starts 2FA setup: a new secret, stored encrypted, not yet required at login. */
export async function setupTotp(s: Services, userId: string) {
  const u = await loadSecret(s, userId);
  if (u.enabledAt) throw new AppError("CONFLICT", "Two-factor authentication is already on. Turn it off first to change it.");
  const key = crypto.getRandomValues(new Uint8Array(20));
  await s.db
    .update(users)
    .set({ totpSecretEnc: await s.secrets.encrypt(toBase64Url(key), secretContext(userId)), totpLastStep: null })
    .where(eq(users.id, userId));
  return { secret: base32(key).toUpperCase(), uri: createTOTPKeyURI("OpenClaw Cloud", u.email, key, PERIOD, DIGITS) };
}

/**
 * Turns 2FA on once the user proves the app has the secret; returns recovery codes, shown only this once.
 * Every other session is signed out (one opened with a stolen password would otherwise outlive the new
 * second factor); `currentSessionId` stays signed in.
 */
export async function enableTotp(s: Services, userId: string, code: string, meta: RequestMeta, currentSessionId?: string) {
  const u = await loadSecret(s, userId);
  if (u.enabledAt) throw new AppError("CONFLICT", "Two-factor authentication is already on.");
  if (!u.key) throw new AppError("BAD_REQUEST", "Start the two-factor setup first.");
  if (!(await acceptTotp(s, userId, u.key, code)))
    throw new AppError("INVALID_TWO_FACTOR_CODE", "That code is not right. Check the time on your phone and try again.");
  const codes = Array.from({ length: RECOVERY_CODES }, () => base32(crypto.getRandomValues(new Uint8Array(8))).slice(0, 12));
  await s.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await s.db.insert(recoveryCodes).values(await Promise.all(codes.map(async (c) => ({ id: newId("rec"), userId, codeHash: await sha256Hex(c) }))));
  await s.db.update(users).set({ totpEnabledAt: new Date() }).where(eq(users.id, userId));
  await revokeOtherSessions(s, userId, currentSessionId);
  audit(s, meta, userId, "account.2fa_enabled");
  return { recoveryCodes: codes.map((c) => `${c.slice(0, 4)}-${c.slice(4, 8)}-${c.slice(8)}`) };
}

/**
 * Turning 2FA off needs both the password (if the account has one) and a current code or recovery code, and
 * signs out every session but `currentSessionId`.
 */
export async function disableTotp(s: Services, userId: string, input: { password?: string; code: string }, meta: RequestMeta, currentSessionId?: string) {
  const u = await loadSecret(s, userId);
  if (!u.enabledAt || !u.key) throw new AppError("CONFLICT", "Two-factor authentication is not on.");
  if (u.passwordHash && !(input.password && (await verifyPassword(input.password, u.passwordHash))))
    throw new AppError("INVALID_CREDENTIALS", "Password is wrong.");
  if (!(await acceptTotp(s, userId, u.key, input.code)) && !(await acceptRecoveryCode(s, userId, input.code)))
    throw new AppError("INVALID_TWO_FACTOR_CODE", "That code is not right.");
  await s.db.update(users).set({ totpEnabledAt: null, totpSecretEnc: null, totpLastStep: null }).where(eq(users.id, userId));
  await s.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await revokeOtherSessions(s, userId, currentSessionId);
  audit(s, meta, userId, "account.2fa_disabled");
}

/**
 * Second login step. Each attempt is counted before the code is checked (so parallel guesses are counted
 * too); after MAX_CHALLENGE_ATTEMPTS the challenge is gone and the user must sign in with the password again.
 */
export async function verifyLoginChallenge(s: Services, challenge: string, code: string, meta: RequestMeta) {
  const tokenHash = await sha256Hex(challenge);
  const [row] = await s.db
    .update(loginChallenges)
    .set({ attempts: sql`${loginChallenges.attempts} + 1` })
    .where(and(eq(loginChallenges.tokenHash, tokenHash), gt(loginChallenges.expiresAt, new Date()), lt(loginChallenges.attempts, MAX_CHALLENGE_ATTEMPTS)))
    .returning({ userId: loginChallenges.userId, attempts: loginChallenges.attempts });
  if (!row) throw new AppError("INVALID_TOKEN", "This sign-in attempt expired. Enter your email and password again.");
  // Per account across challenges and addresses: fresh challenges (one per password login) buy no extra guesses.
  await limitAccount(s, "2fa", row.userId);
  const u = await loadSecret(s, row.userId);
  const ok = !!u.key && !!u.enabledAt && ((await acceptTotp(s, row.userId, u.key, code)) || (await acceptRecoveryCode(s, row.userId, code)));
  if (!ok) {
    if (row.attempts >= MAX_CHALLENGE_ATTEMPTS) await s.db.delete(loginChallenges).where(eq(loginChallenges.tokenHash, tokenHash));
    audit(s, meta, row.userId, "account.2fa_failed");
    throw new AppError("INVALID_TWO_FACTOR_CODE", "That code is not right.");
  }
  await s.db.delete(loginChallenges).where(eq(loginChallenges.tokenHash, tokenHash));
  audit(s, meta, row.userId, "account.login", { twoFactor: true });
  return { userId: row.userId, session: await createSession(s, row.userId, meta) };
}
