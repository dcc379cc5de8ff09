import { and, eq, isNull } from "drizzle-orm";
import { agents, apiKeys, emailTokens, loginChallenges, recoveryCodes, sessions, users } from "@oc/db/schema";
import { audit } from "./audit";
import { removeAllChannels } from "./channels/connect";
import type { RequestMeta, Services } from "./context";
import { rotateProxyKey } from "./agent-config";
import { userAgent } from "../clients/user-agent";

/**
 * Takes away every way in that the account's holder so far set up: sessions, pending 2FA logins, API keys,
 * the TOTP seed and recovery codes, one-time mail links, chat channels (someone else's bot must not talk to
 * the agent) and the agent's proxy key (a running agent gets a fresh one in its config). Used when Google
 * proves that an address nobody had confirmed belongs to someone else (a "pre-hijacked" account), and when an
 * account is deleted. The password and the profile are the caller's business.
 */
export async function revokeEveryAccess(s: Services, userId: string, meta: RequestMeta, why: string) {
  await s.db.delete(sessions).where(eq(sessions.userId, userId));
  await s.db.delete(loginChallenges).where(eq(loginChallenges.userId, userId));
  const keys = await s.db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  await s.db.update(users).set({ totpSecretEnc: null, totpEnabledAt: null, totpLastStep: null, updatedAt: new Date() }).where(eq(users.id, userId));
  await s.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await s.db.delete(emailTokens).where(eq(emailTokens.userId, userId));
  const channels = await removeAllChannels(s, userId);
  const [agent] = await s.db.select({ id: agents.id, nodeId: agents.nodeId, keyHash: agents.proxyKeyHash }).from(agents).where(eq(agents.userId, userId));
  if (agent?.nodeId)
    await rotateProxyKey(s, userId, meta); // the running agent gets its new key (and no channels)
  else if (agent?.keyHash) {
    await s.db.update(agents).set({ proxyKeyHash: null, updatedAt: new Date() }).where(eq(agents.id, agent.id));
    await userAgent(s.env, userId).setProxyKeyHash(null);
  }
  audit(s, meta, userId, "account.access_revoked", { why, apiKeys: keys.length, channels });
}
