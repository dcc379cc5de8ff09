import { and, eq, isNull } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { apiKeys, users } from "@oc/db/schema";
import { randomToken, sha256Hex } from "@oc/contracts/crypto";
import { newId } from "@oc/contracts/ids";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { sessionUserColumns, type SessionUser } from "./sessions";
import { requireVerified } from "./entitlement";

/** Personal API keys look like `ocp_<43 chars>`; only the SHA-256 is stored, the key is shown once. */
export const API_KEY_PREFIX = "ocp_";
const MAX_KEYS = 25;

export async function createApiKey(s: Services, userId: string, name: string, meta: RequestMeta) {
  // A key acts for the account outside the browser: not before the address is proven to be the holder's.
  await requireVerified(s, userId, "create API keys");
  const existing = await s.db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)));
  if (existing.length >= MAX_KEYS) throw new AppError("CONFLICT", `You can have at most ${MAX_KEYS} API keys. Revoke one first.`);
  const key = `${API_KEY_PREFIX}${randomToken()}`;
  const id = newId("key");
  const prefix = key.slice(0, 10);
  await s.db.insert(apiKeys).values({ id, userId, name, prefix, keyHash: await sha256Hex(key) });
  audit(s, meta, userId, "api_key.created", { id });
  return { id, name, prefix, key };
}

export async function listApiKeys(s: Services, userId: string) {
  return s.db
    .select({ id: apiKeys.id, name: apiKeys.name, prefix: apiKeys.prefix, createdAt: apiKeys.createdAt, lastUsedAt: apiKeys.lastUsedAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
    .orderBy(apiKeys.createdAt);
}

export async function revokeApiKey(s: Services, userId: string, id: string, meta: RequestMeta) {
  const done = await s.db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  if (done.length === 0) throw new AppError("NOT_FOUND", "No such API key");
  audit(s, meta, userId, "api_key.revoked", { id });
}

/** Resolves a presented key to its user; undefined for unknown or revoked keys. */
export async function authenticateApiKey(s: Services, key: string): Promise<SessionUser | undefined> {
  if (!key.startsWith(API_KEY_PREFIX)) return undefined;
  const [row] = await s.db
    .select({
      keyId: apiKeys.id,
      user: sessionUserColumns,
    })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(and(eq(apiKeys.keyHash, await sha256Hex(key)), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (!row) return undefined;
  s.defer(s.db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, row.keyId)));
  return row.user;
}
