import { and, eq, gt, ne } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { sessions, users } from "@oc/db/schema";
import { randomToken, sha256Hex } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import type { RequestMeta, Services } from "./context";

export type SessionUser = Pick<typeof users.$inferSelect, "id" | "email" | "name" | "role" | "emailVerifiedAt" | "totpEnabledAt">;

/** The columns of a `SessionUser`, for every query that signs a caller in (a session cookie or an API key). */
export const sessionUserColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  emailVerifiedAt: users.emailVerifiedAt,
  totpEnabledAt: users.totpEnabledAt,
};

/** Refresh last_seen_at at most this often, so a busy dashboard does not write on every request. */
const TOUCH_INTERVAL_MS = 5 * 60_000;

export async function createSession(s: Services, userId: string, meta: RequestMeta) {
  const token = randomToken();
  const expiresAt = new Date(Date.now() + s.env.SESSION_TTL_DAYS * 86_400_000);
  const id = newId("ses");
  await s.db.insert(sessions).values({
    id,
    tokenHash: await sha256Hex(token),
    userId,
    ip: meta.ip,
    userAgent: meta.userAgent?.slice(0, 300) ?? null,
    expiresAt,
  });
  return { id, token, expiresAt };
}

/** Resolves a cookie token to its session and user; undefined for unknown, forged or expired tokens. */
export async function findSession(s: Services, token: string) {
  const tokenHash = await sha256Hex(token);
  const [row] = await s.db
    .select({
      sessionId: sessions.id,
      lastSeenAt: sessions.lastSeenAt,
      user: sessionUserColumns,
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, new Date())))
    .limit(1);
  if (!row) return undefined;
  if (Date.now() - row.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
    s.defer(s.db.update(sessions).set({ lastSeenAt: new Date() }).where(eq(sessions.id, row.sessionId)));
  }
  return { sessionId: row.sessionId, user: row.user satisfies SessionUser };
}

export async function listSessions(s: Services, userId: string) {
  return s.db
    .select({
      id: sessions.id,
      ip: sessions.ip,
      userAgent: sessions.userAgent,
      createdAt: sessions.createdAt,
      lastSeenAt: sessions.lastSeenAt,
      expiresAt: sessions.expiresAt,
    })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, new Date())))
    .orderBy(sessions.createdAt);
}

/** Revokes one of the user's own sessions. Another user's session id is "not found", never revoked. */
export async function revokeSession(s: Services, userId: string, sessionId: string) {
  const deleted = await s.db
    .delete(sessions)
    .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)))
    .returning({ id: sessions.id });
  if (deleted.length === 0) throw new AppError("NOT_FOUND", "No such session");
}

export async function revokeAllSessions(s: Services, userId: string) {
  await s.db.delete(sessions).where(eq(sessions.userId, userId));
}

/**
 * Signs the user out everywhere except `keepSessionId` (the session making a security change stays signed
 * in; without one, every session goes).
 */
export async function revokeOtherSessions(s: Services, userId: string, keepSessionId: string | undefined) {
  await s.db.delete(sessions).where(keepSessionId ? and(eq(sessions.userId, userId), ne(sessions.id, keepSessionId)) : eq(sessions.userId, userId));
}
